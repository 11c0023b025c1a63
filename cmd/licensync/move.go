package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	licsync "github.com/licensync/licensync/sync"
)

func init() { commands = append(commands, moveCmd) }

// holderLister is a target that can list who holds a licence: what a move
// needs and a pass does not.
type holderLister interface {
	Holders(ctx context.Context, licenceID string) ([]licensing.Person, error)
}

// workspaceMover is a target that can list and move workspaces' licences.
type workspaceMover interface {
	WorkspaceHolders(ctx context.Context, licenceID string) ([]licensing.Workspace, error)
	ApplyWorkspaces(ctx context.Context, changes []licensing.WorkspaceChange) ([]error, error)
}

type moveFlags struct {
	from, to, users  string
	plan, workspaces bool
}

func moveCmd(g *globals) *cobra.Command {
	var f moveFlags
	c := &cobra.Command{
		Use:   "move --from SUB-A --to SUB-B",
		Short: "Move Calling users from one subscription to another, keeping number, extension and location",
		Long: `Move every person who holds a Calling licence of subscription --from (or only
those listed in --users) onto the licence of the same name in subscription --to.
Each person is one request that adds the new licence and removes the old one
together, so nothing is lost in between; never remove-then-add.

The move is refused, before anything changes, when --to lacks free units for
all of them. Applying needs removals.acknowledge: true in the configuration;
--plan shows the moves and touches nothing. A report (report.csv and
report.json) is written either way.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.from == "" || f.to == "" {
				return &exitError{exitUsage, errors.New("move: --from and --to are required")}
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			return runMove(c.Context(), g, cfg, f, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.from, "from", "", "the subscription id the users leave")
	fl.StringVar(&f.to, "to", "", "the subscription id the users move to")
	fl.StringVar(&f.users, "users", "", "only these users: a file of emails, one a line, or a CSV with an email column (a Control Hub export works)")
	fl.BoolVar(&f.plan, "plan", false, "show and report the moves, change nothing")
	fl.BoolVar(&f.workspaces, "workspaces", false, "move the workspaces holding the subscription's Calling licences too (--users does not limit them)")
	return c
}

func runMove(ctx context.Context, g *globals, cfg *config.Config, f moveFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(g, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if !f.plan && !cfg.Removals.Acknowledge {
		return &exitError{exitUsage, errors.New("move: a move removes the old subscription's licence and removals.acknowledge is false; " +
			"set removals.acknowledge: true in the configuration to move, or use --plan to see the moves")}
	}
	var only map[string]bool
	if f.users != "" {
		if only, err = readEmails(f.users); err != nil {
			return &exitError{exitUsage, err}
		}
	}
	release, err := lockState(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("target %s: %w", cfg.Target.Kind, err)
	}
	defer tgt.Close()
	lister, ok := tgt.(holderLister)
	if !ok {
		return fmt.Errorf("move: target %s cannot list who holds a licence", cfg.Target.Kind)
	}
	start := time.Now()
	org, err := tgt.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("target snapshot: %w", err)
	}
	plan, err := licensing.PlanMove(org, f.from, f.to, f.workspaces)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	var mover workspaceMover
	if f.workspaces {
		if mover, ok = tgt.(workspaceMover); !ok {
			return fmt.Errorf("move: target %s cannot move workspaces", cfg.Target.Kind)
		}
	}
	var people []licensing.Person
	for _, id := range plan.OldLicences() {
		ps, err := lister.Holders(ctx, id)
		if err != nil {
			return fmt.Errorf("move: holders of %s: %w", id, err)
		}
		people = append(people, ps...)
	}
	sort.Slice(people, func(i, j int) bool { return strings.ToLower(people[i].Email) < strings.ToLower(people[j].Email) })

	var rows []licsync.Row
	var changes []licensing.Change
	var changeRow []int
	found := map[string]bool{}
	for _, p := range people {
		email := strings.ToLower(p.Email)
		if only != nil && !only[email] {
			continue
		}
		found[email] = true
		ch, detail, ok := plan.Move(p, org)
		if !ok {
			continue
		}
		changeRow = append(changeRow, len(rows))
		changes = append(changes, ch)
		rows = append(rows, licsync.Row{SourceID: p.ID, Email: p.Email, DisplayName: p.DisplayName, WorkPhone: p.PhoneNumber, E164: p.PhoneNumber,
			Outcome: string(licensing.WouldProvision), Detail: detail, LocationID: p.LocationID, LocationName: org.Locations[p.LocationID].Name,
			Licenses: strings.Join(ch.Licences, ";")})
	}
	var missing []string
	for email := range only {
		if !found[email] {
			missing = append(missing, email)
		}
	}
	sort.Strings(missing)
	for _, email := range missing {
		rows = append(rows, licsync.Row{Email: email, Outcome: string(licensing.Skipped), Cause: string(licensing.CauseOutOfScope),
			Detail: fmt.Sprintf("holds no Calling licence of subscription %s", f.from)})
	}
	var wchanges []licensing.WorkspaceChange
	var wchangeRow []int
	if mover != nil {
		seen := map[string]bool{}
		for _, id := range plan.OldLicences() {
			ws, err := mover.WorkspaceHolders(ctx, id)
			if err != nil {
				return fmt.Errorf("move: workspaces holding %s: %w", id, err)
			}
			for _, w := range ws {
				if seen[w.ID] {
					continue
				}
				seen[w.ID] = true
				ch, detail, ok := plan.MoveWorkspace(w, org)
				if !ok {
					continue
				}
				wchangeRow = append(wchangeRow, len(rows))
				wchanges = append(wchanges, ch)
				rows = append(rows, licsync.Row{SourceID: w.ID, DisplayName: w.Name, WorkPhone: w.PhoneNumber, E164: w.PhoneNumber,
					Outcome: string(licensing.WouldProvision), Detail: "workspace " + w.Name + ": " + detail, LocationID: w.LocationID,
					LocationName: org.Locations[w.LocationID].Name, Licenses: strings.Join(ch.Licences, ";")})
			}
		}
	}
	if err := plan.CheckUnits(changes, wchanges, org); err != nil {
		return &exitError{exitFailed, err}
	}

	mode := "move-plan"
	if !f.plan {
		mode = "move"
		fail := func(last int, fatal error) error {
			rows = rows[:last+1]
			if _, werr := writeMoveReport(cfg, g, mode, start, rows, "failed"); werr != nil {
				log.Error("move: report: " + werr.Error())
			}
			return fmt.Errorf("move: target apply: %w", fatal)
		}
		for lo := 0; lo < len(changes); lo += cfg.Apply.BatchSize {
			hi := min(lo+cfg.Apply.BatchSize, len(changes))
			errs, fatal := tgt.Apply(ctx, changes[lo:hi])
			for k := lo; k < hi; k++ {
				setOutcome(&rows[changeRow[k]], errs, k-lo, fatal)
			}
			if fatal != nil {
				return fail(changeRow[hi-1], fatal)
			}
		}
		for lo := 0; lo < len(wchanges); lo += cfg.Apply.BatchSize {
			hi := min(lo+cfg.Apply.BatchSize, len(wchanges))
			errs, fatal := mover.ApplyWorkspaces(ctx, wchanges[lo:hi])
			for k := lo; k < hi; k++ {
				setOutcome(&rows[wchangeRow[k]], errs, k-lo, fatal)
			}
			if fatal != nil {
				return fail(wchangeRow[hi-1], fatal)
			}
		}
	}
	dir, err := writeMoveReport(cfg, g, mode, start, rows, "succeeded")
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.Outcome]++
		who := r.Email
		if who == "" {
			who = r.SourceID
		}
		switch r.Outcome {
		case string(licensing.Provisioned):
			fmt.Fprintf(stdout, "moved %s: %s\n", who, r.Detail)
		case string(licensing.WouldProvision):
			fmt.Fprintf(stdout, "would move %s: %s\n", who, r.Detail)
		default:
			fmt.Fprintf(stdout, "%s %s: %s %s\n", strings.ToLower(r.Outcome), who, r.Cause, r.Detail)
		}
	}
	verb := "moved"
	if f.plan {
		verb = "would move"
	}
	n := counts[string(licensing.Provisioned)] + counts[string(licensing.WouldProvision)]
	fmt.Fprintf(stdout, "move %s -> %s: %s %d, failed %d, not holding %s %d; report in %s\n", f.from, f.to, verb, n,
		counts[string(licensing.Failed)], f.from, counts[string(licensing.Skipped)], dir)
	return nil
}

// setOutcome records on r what applying its change did: errs[k], or the
// pass-level error when the target stopped before answering it.
func setOutcome(r *licsync.Row, errs []error, k int, fatal error) {
	e := fatal
	if k < len(errs) {
		e = errs[k]
	}
	var ae *licensing.ApplyError
	switch {
	case e == nil:
		r.Outcome = string(licensing.Provisioned)
	case errors.As(e, &ae):
		r.Outcome, r.Cause, r.Detail = string(licensing.Failed), string(ae.Cause), ae.Error()
	default:
		r.Outcome, r.Cause, r.Detail = string(licensing.Failed), string(licensing.CauseAPIError), e.Error()
	}
}

// writeMoveReport writes report.csv and report.json into --report-dir, or
// report_dir/<move id>/.
func writeMoveReport(cfg *config.Config, g *globals, mode string, start time.Time, rows []licsync.Row, status string) (string, error) {
	run := licsync.RunInfo{ID: licsync.NewRunID(start), Mode: mode, Full: true, Started: start, Ended: time.Now(), Status: status}
	dir := g.reportDir
	if dir == "" {
		dir = filepath.Join(cfg.ReportDir, run.ID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	sum := licsync.Summary{Users: len(rows), Outcomes: map[string]int{}, Causes: map[string]int{}, Elapsed: run.Ended.Sub(start).Seconds()}
	for _, r := range rows {
		sum.Outcomes[r.Outcome]++
		if r.Cause != "" {
			sum.Causes[r.Cause]++
		}
		if r.Outcome == string(licensing.Provisioned) || r.Outcome == string(licensing.WouldProvision) {
			sum.Removals++
		}
	}
	cf, err := os.Create(filepath.Join(dir, "report.csv"))
	if err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	defer cf.Close()
	w, err := licsync.NewCSVWriter(cf)
	if err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			return "", fmt.Errorf("move: report: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	jf, err := os.Create(filepath.Join(dir, "report.json"))
	if err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	defer jf.Close()
	if err := licsync.WriteJSON(jf, run, sum, rows); err != nil {
		return "", fmt.Errorf("move: report: %w", err)
	}
	return dir, cf.Close()
}

// readEmails reads --users: one email a line, or a CSV whose header has a
// column with "email" in its name (a Control Hub users.csv has "User
// ID/Email (Required)"). Emails compare in lower case.
func readEmails(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("move: --users: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	first, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("move: --users %s: %w", path, err)
	}
	line, _, _ := strings.Cut(strings.TrimPrefix(string(first), "\ufeff"), "\n")
	out := map[string]bool{}
	if !strings.Contains(line, ",") {
		sc := bufio.NewScanner(br)
		for n := 1; sc.Scan(); n++ {
			e := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff")))
			if e == "" || strings.HasPrefix(e, "#") {
				continue
			}
			if !strings.Contains(e, "@") {
				return nil, fmt.Errorf("move: --users %s:%d: %q is not an email", path, n, e)
			}
			out[e] = true
		}
		return out, sc.Err()
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("move: --users %s: header: %w", path, err)
	}
	col := -1
	for i, h := range head {
		if strings.Contains(strings.ToLower(strings.TrimPrefix(h, "\ufeff")), "email") {
			col = i
			break
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("move: --users %s: no column with \"email\" in its name in the header %q", path, strings.Join(head, ","))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("move: --users %s: %w", path, err)
		}
		if col < len(rec) {
			if e := strings.ToLower(strings.TrimSpace(rec[col])); e != "" {
				out[e] = true
			}
		}
	}
}
