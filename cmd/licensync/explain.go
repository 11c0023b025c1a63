package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/controlhub"
	"github.com/licensync/licensync/pass"
)

// explain reads a Control Hub user export and says why its users have no
// Calling.
func init() { commands = append(commands, explainCmd) }

func explainCmd(g *globals) *cobra.Command {
	var usersCSV string
	c := &cobra.Command{
		Use:   "explain",
		Short: "Say why the users of a Control Hub users.csv export have no Calling",
		Long: `Read a Control Hub user export (Users > Manage users by CSV > Export CSV, with
User licenses), take the users whose Calling columns are all FALSE, and say for
each why it has no Calling: the directory source and the target are read the
way a plan reads them, touching nothing, and the users are written as a pass's
report (report.csv, report.json, report.html) with the cause and the fix.

unlicensed.csv, beside the report, lists the directory users who exist in
Webex without any licence or not at all; those on a public mail domain
(gmail.com, yahoo.com, ...) cannot be converted into the organisation.

The reports go to --report-dir, or report_dir/explain/.`,
		Example: "  licensync explain --users-csv exported_users.csv -c licensync.yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if usersCSV == "" {
				return &exitError{exitUsage, errors.New("--users-csv: name the Control Hub user export to explain")}
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			f, err := readUsersCSV(usersCSV)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			for _, d := range f.Duplicates {
				fmt.Fprintf(c.ErrOrStderr(), "licensync: warning: %s: %s\n", usersCSV, d)
			}
			log, err := newLogger(g, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			dir := g.reportDir
			if dir == "" {
				dir = filepath.Join(cfg.ReportDir, "explain")
			}
			sum, err := explain(c.Context(), cfg, f, dir, log)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), sum)
			return nil
		},
	}
	c.Flags().StringVar(&usersCSV, "users-csv", "", "the Control Hub user export to explain")
	return c
}

func readUsersCSV(path string) (*controlhub.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--users-csv: %w", err)
	}
	defer fh.Close()
	f, err := controlhub.Parse(fh, path)
	if err != nil {
		return nil, err
	}
	if f.CallingColumns() == 0 {
		return nil, fmt.Errorf("%s has no Webex Calling licence column: export it again with User licenses included", path)
	}
	return f, nil
}

// explained is what explain found, for the line it prints.
type explained struct {
	withoutCalling, notInDirectory int
	causes                         map[string]int
	unlicensed, absent, consumer   int
	dir                            string
}

func (e *explained) String() string {
	var causes []string
	for c, n := range e.causes {
		causes = append(causes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(causes)
	line := fmt.Sprintf("explain: %d user(s) without Calling", e.withoutCalling)
	if len(causes) > 0 {
		line += " (" + strings.Join(causes, ", ") + ")"
	}
	line += fmt.Sprintf(", %d not in the directory; %d directory user(s) in Webex without a licence, %d not in Webex, %d of them on a consumer domain; reports in %s",
		e.notInDirectory, e.unlicensed, e.absent, e.consumer, e.dir)
	return line
}

// explain plans a full pass into a scratch folder with a scratch state
// store, so the service's history and checkpoints stay as they were, then
// picks from the plan's report the users the export lists without Calling.
func explain(ctx context.Context, cfg *config.Config, f *controlhub.File, dir string, log *zap.Logger) (*explained, error) {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "licensync-explain-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tgt, res, err := scratchPlan(ctx, cfg, tmp, log)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()

	policy := cfg.Policy()
	lineOf := map[string]int{}
	for i := range f.Users {
		if u := &f.Users[i]; !f.HasCalling(u) {
			lineOf[strings.ToLower(u.Email)] = u.Line
		}
	}
	e := &explained{withoutCalling: len(lineOf), causes: map[string]int{}, dir: dir}
	var rows []pass.Row
	var unlicensed []pass.Row
	found := map[string]bool{}
	batch := make([]pass.Row, 0, max(cfg.Apply.BatchSize, 1))
	flush := func() error {
		more, err := notLicensedInWebex(ctx, tgt, policy, batch, e)
		unlicensed = append(unlicensed, more...)
		batch = batch[:0]
		return err
	}
	err = eachReportRow(filepath.Join(res.ReportDir, "report.json"), func(r *pass.Row) error {
		k := strings.ToLower(r.Email)
		if _, ok := lineOf[k]; ok && !found[k] {
			found[k] = true
			rows = append(rows, *r)
		}
		if r.Cause == string(licensing.CauseDisabled) || r.Email == "" {
			return nil
		}
		batch = append(batch, *r)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	for i := range f.Users {
		u := &f.Users[i]
		k := strings.ToLower(u.Email)
		if _, ok := lineOf[k]; !ok || found[k] {
			continue
		}
		e.notInDirectory++
		detail := "in Control Hub without Calling, and the directory source has no user with this email: licensync does not license them"
		if policy.IsConsumer(u.Email) {
			detail += "; " + consumerNote(u.Email)
		}
		rows = append(rows, pass.Row{Email: u.Email, DisplayName: u.DisplayName, WorkPhone: u.PhoneNumber, Outcome: string(licensing.Skipped),
			Cause: string(licensing.CauseOutOfScope), Detail: detail, LocationName: u.Location})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return lineOf[strings.ToLower(rows[i].Email)] < lineOf[strings.ToLower(rows[j].Email)]
	})
	sum := pass.Summary{Users: len(rows), Outcomes: map[string]int{}, Causes: map[string]int{}}
	for _, r := range rows {
		sum.Outcomes[r.Outcome]++
		if r.Cause != "" {
			sum.Causes[r.Cause]++
			e.causes[r.Cause]++
		}
	}
	run := pass.RunInfo{ID: res.Run.ID, Mode: "explain", Full: true, Started: start, Ended: time.Now(), Status: "succeeded"}
	sum.Elapsed = run.Ended.Sub(start).Seconds()
	if err := writeExplainReports(dir, run, sum, rows, unlicensed); err != nil {
		return nil, err
	}
	return e, nil
}

// scratchPlan runs a full plan with a state store of its own under tmp and
// returns the target, still open, with the result.
func scratchPlan(ctx context.Context, cfg *config.Config, tmp string, log *zap.Logger) (pass.Target, *pass.Result, error) {
	store, err := pass.OpenStore(filepath.Join(tmp, "state.db"))
	if err != nil {
		return nil, nil, err
	}
	defer store.Close()
	src, err := openSource(ctx, cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", cfg.Source.Kind, err)
	}
	defer src.Close()
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return nil, nil, fmt.Errorf("target %s: %w", cfg.Target.Kind, err)
	}
	res, err := pass.Execute(ctx, pass.Options{
		Policy: cfg.Policy(), Source: src, Target: tgt, Store: store, Mode: pass.PlanOnly, Full: true,
		SourceKey: cfg.Source.Kind, ExactReportDir: filepath.Join(tmp, "plan"), BatchSize: cfg.Apply.BatchSize, Log: log,
	})
	if err != nil {
		tgt.Close()
		return nil, nil, err
	}
	return tgt, res, nil
}

// notLicensedInWebex looks the batch's users up in the target and returns
// those with no Webex person or a person without any licence.
func notLicensedInWebex(ctx context.Context, tgt pass.Target, policy *licensing.Policy, batch []pass.Row, e *explained) ([]pass.Row, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	emails := make([]string, len(batch))
	for i, r := range batch {
		emails[i] = r.Email
	}
	people, err := tgt.People(ctx, emails)
	if err != nil {
		return nil, fmt.Errorf("target people: %w", err)
	}
	var out []pass.Row
	for _, r := range batch {
		p, ok := people[strings.ToLower(r.Email)]
		var state string
		switch {
		case !ok:
			state = "not in Webex: no person has this email"
			e.absent++
		case len(p.Licences) == 0:
			state = "in Webex without any licence"
			e.unlicensed++
		default:
			continue
		}
		if policy.IsConsumer(r.Email) {
			state += "; " + consumerNote(r.Email)
			e.consumer++
		}
		// The pass's own detail says the same for these two causes.
		if r.Detail != "" && r.Cause != string(licensing.CauseConsumerDomain) && r.Cause != string(licensing.CauseWebexUserNotFound) {
			state += "; " + r.Detail
		}
		r.Detail = state
		out = append(out, r)
	}
	return out, nil
}

func consumerNote(email string) string {
	domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
	return fmt.Sprintf("%s is a public mail domain: the account cannot be converted into the organisation; give the user an address in one of its domains", domain)
}

// eachReportRow streams the users of a pass's report.json to fn.
func eachReportRow(path string, fn func(*pass.Row) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer fh.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(fh, 1<<16))
	bad := func(err error) error { return fmt.Errorf("report %s: %w", path, err) }
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return bad(fmt.Errorf("not a report (%v)", err))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		if t != "users" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return bad(fmt.Errorf("users is not a list (%v)", err))
		}
		for dec.More() {
			var r pass.Row
			if err := dec.Decode(&r); err != nil {
				return bad(err)
			}
			if err := fn(&r); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return bad(err)
		}
	}
	return nil
}

// writeExplainReports writes the report a pass writes, with the pass's own
// writers, and unlicensed.csv beside it.
func writeExplainReports(dir string, run pass.RunInfo, sum pass.Summary, rows, unlicensed []pass.Row) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	writeCSV := func(name string, rows []pass.Row) error {
		return writeFile(filepath.Join(dir, name), func(w io.Writer) error {
			cw, err := pass.NewCSVWriter(w)
			if err != nil {
				return err
			}
			for i := range rows {
				if err := cw.Write(&rows[i]); err != nil {
					return err
				}
			}
			return cw.Flush()
		})
	}
	if err := writeCSV("report.csv", rows); err != nil {
		return err
	}
	if err := writeCSV("unlicensed.csv", unlicensed); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "report.json"), func(w io.Writer) error { return pass.WriteJSON(w, run, sum, rows) }); err != nil {
		return err
	}
	var shown []pass.Row
	for _, r := range rows {
		if r.Outcome != string(licensing.Provisioned) && r.Outcome != string(licensing.AlreadyProvisioned) && r.Outcome != string(licensing.WouldProvision) {
			shown = append(shown, r)
		}
	}
	return writeFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return pass.WriteHTML(w, run, sum, shown, 0) })
}

// writeFile writes path through a temporary file renamed into place, so a
// reader never sees half a file.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
