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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon"
)

func init() { commands = append(commands, moveCmd) }

type moveFlags struct {
	from, to, users  string
	plan, workspaces bool
	// maxFraction overrides removals.max_fraction when set (>= 0).
	maxFraction float64
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
all of them. A move removes licences, so it goes through the removals guard
of a pass: applying needs removals.acknowledge: true in the configuration, and
a move of more than removals.max_fraction of the organisation's Calling users
is refused unless --max-fraction allows it for this move. --plan shows the
moves and touches nothing. The move is recorded in the history like a pass
(mode move or move-plan), and its reports are written either way.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if f.from == "" || f.to == "" {
				return &exitError{exitUsage, errors.New("move: --from and --to are required")}
			}
			if !c.Flags().Changed("max-fraction") {
				f.maxFraction = -1
			} else if f.maxFraction < 0 || f.maxFraction > 1 {
				return &exitError{exitUsage, fmt.Errorf("move: --max-fraction %g is not a fraction between 0 and 1", f.maxFraction)}
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
	fl.Float64Var(&f.maxFraction, "max-fraction", 0, "for this move, the largest share of the organisation's Calling users that may move (0 to 1), instead of removals.max_fraction: a deliberate bulk move")
	return c
}

// runMove plans the move and, unless --plan, applies it, as a pass plans
// and applies: the same guard, apply stage, state store and reports.
func runMove(ctx context.Context, g *globals, cfg *config.Config, f moveFlags, stdout, stderr io.Writer) error {
	log, err := newLogger(g, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	move := &pass.Move{From: f.from, To: f.to, Workspaces: f.workspaces}
	if f.users != "" {
		if move.Only, err = readEmails(f.users); err != nil {
			return &exitError{exitUsage, err}
		}
	}
	policy := cfg.Policy()
	if f.maxFraction >= 0 {
		policy.Removals.MaxFraction = f.maxFraction
	}
	mode := pass.Apply
	if f.plan {
		mode = pass.PlanOnly
	}
	release, ld, err := lockState(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	opened, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer opened.Close()
	store := opened
	if ld != nil {
		if store, err = opened.FencedBy(ld.lease); err != nil {
			return err
		}
	}
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("target %s: %w", cfg.Target.Kind, err)
	}
	defer tgt.Close()
	runID := pass.NewRunID(time.Now())
	defer passOptions{log: log}.report(store, runID, daemon.SideTarget, tgt)
	res, err := pass.Execute(ctx, pass.Options{
		Policy: policy, Target: tgt, Store: store, Mode: mode, Move: move, RunID: runID,
		ReportDir: cfg.ReportDir, ExactReportDir: g.reportDir, BatchSize: cfg.Apply.BatchSize, Log: log,
	})
	if bad := (*pass.MoveRequestError)(nil); errors.As(err, &bad) {
		return &exitError{exitUsage, err}
	}
	if err != nil {
		return err
	}
	err = eachReportRow(filepath.Join(res.ReportDir, "report.json"), func(r *pass.Row) error {
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
		return nil
	})
	if err != nil {
		return err
	}
	counts := res.Summary.Outcomes
	verb := "moved"
	if f.plan {
		verb = "would move"
	}
	n := counts[string(licensing.Provisioned)] + counts[string(licensing.WouldProvision)]
	fmt.Fprintf(stdout, "move %s -> %s: %s %d, failed %d, not holding %s %d; report in %s (%s %s)\n", f.from, f.to, verb, n,
		counts[string(licensing.Failed)], f.from, counts[string(licensing.Skipped)], res.ReportDir, res.Run.Mode, res.Run.ID)
	if res.Summary.Refusal != "" {
		fmt.Fprintf(stdout, "move would refuse: %s\n", res.Summary.Refusal)
	}
	return nil
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
