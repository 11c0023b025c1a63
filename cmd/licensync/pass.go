package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon"
)

func passCmd(g *globals, name string) *cobra.Command {
	var full bool
	var export string
	var maxAge time.Duration
	short := map[string]string{
		"plan":  "Decide for every user and report, touching nothing in the target",
		"run":   "Decide, apply the licences, record the decisions and report",
		"check": "Plan, then exit 0 if nothing would change and no user's latest decision is a failure, 1 otherwise",
	}[name]
	c := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  exportArgs(&export),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			mode := pass.PlanOnly
			if name == "run" {
				mode = pass.Apply
			}
			var exp *exporter
			if export != "" {
				exp = &exporter{file: args[0], acknowledge: cfg.Removals.Acknowledge, batch: cfg.Apply.BatchSize}
			}
			res, err := runPass(c.Context(), g, cfg, passOptions{mode: mode, full: full, reportDir: g.reportDir, export: exp.consume()}, c.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), summaryLine(res))
			exp.tell(c.OutOrStdout())
			if name == "check" {
				return check(c.Context(), cfg, res, maxAge, c.OutOrStdout())
			}
			return nil
		},
	}
	c.Flags().BoolVar(&full, "full", false, "read the whole directory, ignoring the incremental checkpoint")
	if name == "check" {
		c.Flags().DurationVar(&maxAge, "max-age", 0, "ignore failures younger than this (e.g. 1h), so monitoring sees only what healing did not fix")
	}
	if name == "plan" {
		c.Use = "plan [--export controlhub-csv FILE]"
		c.Flags().StringVar(&export, "export", "", "also write the planned changes as FILE: controlhub-csv, a Control Hub bulk-licence CSV (see docs/controlhub.md)")
	}
	return c
}

// check judges the plan res with the users whose latest decision is a
// failure, whichever pass decided them: exit 1 while any failure at least
// maxAge old stands or a change is pending, with the counts per cause and
// the oldest failure's age.
func check(ctx context.Context, cfg *config.Config, res *pass.Result, maxAge time.Duration, stdout io.Writer) error {
	store, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	var before time.Time
	if maxAge > 0 {
		before = now.Add(-maxAge)
	}
	st, err := pass.Check(ctx, store, res, before)
	if err != nil {
		return err
	}
	var parts []string
	if st.Total > 0 {
		var causes []string
		for _, c := range licensing.Causes {
			if n := st.Causes[c]; n > 0 {
				causes = append(causes, fmt.Sprintf("%s %d", c, n))
			}
		}
		part := fmt.Sprintf("%d user(s) failing (%s)", st.Total, strings.Join(causes, ", "))
		if !st.Oldest.IsZero() {
			part += ", the oldest for " + pass.FormatAge(now.Sub(st.Oldest))
		}
		parts = append(parts, part)
	}
	if st.Pending > 0 {
		parts = append(parts, fmt.Sprintf("%d user(s) would change", st.Pending))
	}
	if len(parts) > 0 {
		return &exitError{exitFailed, errors.New("check: " + strings.Join(parts, "; "))}
	}
	if maxAge > 0 {
		fmt.Fprintf(stdout, "check: no failure older than %s and no change pending\n", maxAge)
	} else {
		fmt.Fprintln(stdout, "check: no failure and no change pending")
	}
	return nil
}

// newLogger logs JSON unless stderr is a terminal, or as --log-format says.
func newLogger(g *globals, stderr io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(g.logLevel); err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("--log-level: %q is not debug, info, warn or error", g.logLevel)}
	}
	format := g.logFormat
	if format == "" {
		format = "json"
		if isTerminal(stderr) {
			format = "console"
		}
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, &exitError{exitUsage, fmt.Errorf("--log-format: %q is not console or json", format)}
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), lvl)), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runPass runs one pass from the command line, o says which; the log and
// the progress line go to stderr.
func runPass(ctx context.Context, g *globals, cfg *config.Config, o passOptions, stderr io.Writer) (*pass.Result, error) {
	log, err := newLogger(g, stderr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Sync() }()
	release, ld, err := lockState(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = release() }()
	prog := &pass.Progress{}
	if isTerminal(stderr) {
		stop := showProgress(stderr, prog)
		defer stop()
	}
	o.log, o.progress = log, prog
	return leadPass(ctx, ld, func(ctx context.Context, lease *pass.Lease) (*pass.Result, error) {
		o.lease = lease
		return executePass(ctx, cfg, o, nil)
	})
}

// passOptions are what differs between the CLI's passes and the service's.
type passOptions struct {
	mode      pass.Mode
	full      bool
	reportDir string
	log       *zap.Logger
	progress  *pass.Progress
	// traffic, when set, receives the source's and the target's request
	// counts once the pass is over, whether or not it succeeded.
	traffic func(side string, requests, retries, throttled int64)
	// export, when set, consumes the plan of a plan pass (plan --export).
	export func(*pass.Plan) error
	// watch, when set, reads the state store once the pass is over,
	// whether or not it succeeded (res is nil when it did not complete).
	watch func(store *pass.Store, res *pass.Result)
	// lease, when set, fences every write of the pass by the epoch it
	// holds as the pass starts.
	lease *pass.Lease
}

// trafficCounter is a source or a target that counts its requests; those
// that send none (a file, the offline target) need not be one.
type trafficCounter interface{ Traffic() licensing.Traffic }

// report hands v's request counts, when it keeps them, to o.traffic, and
// keeps them in the state store beside the pass runID for the console's
// charts.
func (o passOptions) report(store *pass.Store, runID, side string, v any) {
	c, ok := v.(trafficCounter)
	if !ok {
		return
	}
	t := c.Traffic()
	if o.traffic != nil {
		o.traffic(side, t.Requests, t.Retries, t.Throttled)
	}
	if err := store.RecordTraffic(context.Background(), runID, side, pass.Traffic{Requests: t.Requests, Retries: t.Retries, Throttled: t.Throttled}); err != nil {
		o.log.Warn("pass traffic not kept", zap.Error(err))
	}
}

// executePass opens the store, the source and the target the configuration
// names and runs one pass; after, when set, runs with the store still open.
// The caller holds the instance lock.
func executePass(ctx context.Context, cfg *config.Config, o passOptions, after func(*pass.Store)) (*pass.Result, error) {
	opened, err := openState(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer opened.Close()
	store := opened
	if o.lease != nil {
		if store, err = opened.FencedBy(o.lease); err != nil {
			return nil, err
		}
	}
	src, err := openSource(ctx, cfg, o.log)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Kind, err)
	}
	defer src.Close()
	runID := pass.NewRunID(time.Now())
	defer o.report(store, runID, daemon.SideSource, src)
	tgt, err := openTarget(ctx, cfg, o.log)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Target.Kind, err)
	}
	defer tgt.Close()
	defer o.report(store, runID, daemon.SideTarget, tgt)
	res, err := pass.Execute(ctx, pass.Options{
		Policy: cfg.Policy(), Source: src, Target: tgt, Store: store, Mode: o.mode, Full: o.full,
		SourceKey: cfg.Source.Kind, ReportDir: cfg.ReportDir, ExactReportDir: o.reportDir,
		BatchSize: cfg.Apply.BatchSize, Log: o.log, Progress: o.progress, RunID: runID, Export: o.export,
	})
	if o.watch != nil {
		o.watch(store, res)
	}
	if err == nil && after != nil {
		after(store)
	}
	return res, err
}

// showProgress redraws one status line on a terminal until stop is called.
func showProgress(w io.Writer, p *pass.Progress) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				secs := time.Since(start).Seconds()
				read, decided := p.Read.Load(), p.Decided.Load()
				line := fmt.Sprintf("read %d  decided %d  applied %d  %.0f users/s", read, decided, p.Applied.Load(), float64(decided)/secs)
				if decided > 0 && read > decided {
					eta := time.Duration(float64(read-decided) / (float64(decided) / secs) * float64(time.Second))
					line += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
				}
				fmt.Fprint(w, "\r\033[K"+line)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// summaryLine is the one line each pass ends with: each outcome's count,
// SKIPPED followed by its skip reasons and FAILED by its failure causes.
func summaryLine(res *pass.Result) string {
	var skips, fails []string
	for c, n := range res.Summary.Causes {
		if licensing.Cause(c).SkipReason() {
			skips = append(skips, fmt.Sprintf("%s %d", c, n))
		} else {
			fails = append(fails, fmt.Sprintf("%s %d", c, n))
		}
	}
	var parts []string
	for _, o := range []licensing.Outcome{licensing.WouldProvision, licensing.Provisioned, licensing.AlreadyProvisioned, licensing.Drift, licensing.Skipped, licensing.Failed} {
		n := res.Summary.Outcomes[string(o)]
		if n == 0 {
			continue
		}
		part := fmt.Sprintf("%s %d", o, n)
		var causes []string
		switch o {
		case licensing.Skipped:
			causes = skips
		case licensing.Failed:
			causes = fails
		}
		if len(causes) > 0 {
			sort.Strings(causes)
			part += " (" + strings.Join(causes, ", ") + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		parts = append(parts, "no users")
	}
	rate := float64(res.Summary.Users) / max(res.Summary.Elapsed, 1e-9)
	line := fmt.Sprintf("%s %s: %d users: %s", res.Run.Mode, res.Run.ID, res.Summary.Users, strings.Join(parts, ", "))
	line += fmt.Sprintf("; %.2fs, %.0f users/s, peak memory %d MiB; reports in %s",
		res.Summary.Elapsed, rate, peakRSS()>>20, res.ReportDir)
	if res.Summary.Refusal != "" {
		line += "\nrun would refuse this pass: " + res.Summary.Refusal
	} else if res.Summary.Removals > 0 {
		line += fmt.Sprintf("\n%d user(s) lose a licence in this pass; each report row's detail says which", res.Summary.Removals)
	}
	return line
}

// peakRSS is the process's high-water resident memory in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
