package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon"
)

// stopWithin bounds how long serve waits for the pass in flight after a
// stop signal, inside systemd's default 90 s and the 10 s the unit allows.
const stopWithin = 8 * time.Second

func serveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run as a service: incremental passes every few minutes, a full pass nightly",
		Long: `Run passes on the daemon: schedule (incremental_every, full_at, timezone) until
stopped, one at a time, and serve GET /healthz, GET /readyz, GET /metrics and
POST /v1/passes[?full=true] on daemon.listen, and the help-desk console at /
with its JSON API under /api/v1/ (off a loopback address only after signing
in: daemon.console). The trigger takes the token of
daemon.trigger_token as Authorization: Bearer <token>, and is off without one.

SIGTERM or SIGINT interrupts the pass in flight (the checkpoint stays where it
was) and exits; SIGHUP reloads the configuration, keeping the old one if the
new one is not valid. Tells systemd READY=1, WATCHDOG=1 and STATUS= when run
as a Type=notify unit; WATCHDOG=1 stops while a pass makes no progress, so a
hung pass gets the service restarted. With daemon.notify.webhook_url set,
each user failing longer than daemon.notify.after is posted to it once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			log, err := newLogger(g, c.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return serve(c.Context(), g, cfg, log)
		},
	}
}

func scheduleOf(cfg *config.Config) daemon.Schedule {
	h, m := cfg.Daemon.FullClock()
	return daemon.Schedule{Every: cfg.Daemon.Every(), FullHour: h, FullMinute: m, Location: cfg.Daemon.Location()}
}

func serve(ctx context.Context, g *globals, cfg *config.Config, log *zap.Logger) error {
	// Replicas share a PostgreSQL store under leases; a SQLite store has
	// one process, under the instance lock.
	if !cfg.StateIsPostgres() {
		release, _, err := lockState(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer func() {
			if err := release(); err != nil {
				log.Warn("releasing the instance lock", zap.Error(err))
			}
		}()
	}
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	// The console reads the state store on a handle of its own while
	// passes write on theirs.
	cstore, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer cstore.Close()
	var svc *daemon.Service
	var ld *leader
	var leadership *daemon.Leadership
	if cfg.StateIsPostgres() {
		leadership = daemon.NewLeadership([]string{defaultOrg})
		if ld, err = newLeader(cstore, defaultOrg, cfg.Daemon.LeaseTTL.D(), log, leadership, func() { svc.Scheduler().Trigger(false) }); err != nil {
			return err
		}
	}
	svc = daemon.New(daemon.Options{
		Schedule: scheduleOf(cfg),
		Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
			return leadPass(ctx, ld, func(ctx context.Context, lease *pass.Lease) (*pass.Result, error) {
				return servePass(ctx, cur.Load(), full, log, prog, svc, lease)
			})
		},
		PlanExport: func(ctx context.Context, prog *pass.Progress) (*pass.Result, error) {
			return leadPass(ctx, ld, func(ctx context.Context, lease *pass.Lease) (*pass.Result, error) {
				return servePlanExport(ctx, cur.Load(), log, prog, lease)
			})
		},
		Leadership:   leadership,
		Status:       summaryLine,
		Log:          log,
		TriggerToken: func() string { return cur.Load().Daemon.TriggerToken.Value() },
		Console:      consoleOptions(&cur, cstore, log),
	})
	lastSuccess, status, err := loadState(ctx, cfg, func(store *pass.Store) { afterServePass(ctx, store, nil, svc, log) })
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Daemon.Listen)
	if err != nil {
		return fmt.Errorf("daemon.listen: %w", err)
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("config", cfg.File), zap.String("state", cfg.State))
	svc.StateLoaded(lastSuccess, status)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { svc.Run(runCtx); close(done) }()
	if ld != nil {
		leading := make(chan struct{})
		go func() { ld.run(runCtx); close(leading) }()
		// The lease is given up before the process ends, so a standby
		// takes over at once.
		defer func() { <-leading }()
	}
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-done:
			running = false
		case <-hup:
			if next, ok := reload(g, cur.Load(), log); ok {
				cur.Store(next)
				svc.Scheduler().SetSchedule(scheduleOf(next))
			}
		}
	}
	log.Info("stopping")
	cancel()
	shutCtx, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	_ = srv.Shutdown(shutCtx)
	select {
	case <-done:
		return nil
	case <-time.After(stopWithin):
		return fmt.Errorf("serve: the pass in flight did not stop within %s", stopWithin)
	}
}

// reload reads the configuration again; an invalid one, or one that moves
// what a running service cannot move, is logged and the old one kept.
func reload(g *globals, old *config.Config, log *zap.Logger) (*config.Config, bool) {
	next, err := g.load()
	if err != nil {
		log.Error("configuration reload refused; keeping the running configuration", zap.Error(err))
		return nil, false
	}
	if next.State != old.State {
		log.Error("configuration reload refused: state moved; restart to use another state store", zap.String("state", old.State), zap.String("new_state", next.State))
		return nil, false
	}
	if next.Daemon.Listen != old.Daemon.Listen {
		log.Warn("daemon.listen changed; it takes effect at the next restart", zap.String("listen", old.Daemon.Listen))
	}
	log.Info("configuration reloaded", zap.String("config", next.File))
	return next, true
}

// loadState opens the state store once to check it, lets seed read it, and
// reports the end of its last successful pass (zero when there is none) and
// a status line.
func loadState(ctx context.Context, cfg *config.Config, seed func(*pass.Store)) (time.Time, string, error) {
	store, err := openState(ctx, cfg)
	if err != nil {
		return time.Time{}, "", err
	}
	defer store.Close()
	seed(store)
	runs, err := store.Runs(ctx, 50)
	if err != nil {
		return time.Time{}, "", err
	}
	for _, r := range runs {
		if r.Status == "succeeded" {
			return r.Ended, fmt.Sprintf("last pass %s %s succeeded at %s", r.Mode, r.ID, r.Ended.Format(time.RFC3339)), nil
		}
	}
	return time.Time{}, "no pass has succeeded yet", nil
}

// servePass is one applying pass of the service (the lock or, with lease
// set, the lease is the service's), with reports under report_dir, then the retention of passes
// and reports.
func servePass(ctx context.Context, cfg *config.Config, full bool, log *zap.Logger, prog *pass.Progress, svc *daemon.Service, lease *pass.Lease) (*pass.Result, error) {
	// The webhook's answers and waits after the pass count as its progress.
	ctx = licensing.WithLiveness(ctx, &prog.Liveness)
	o := passOptions{mode: pass.Apply, full: full, log: log, progress: prog, traffic: svc.Metrics().AddTraffic, lease: lease,
		watch: func(store *pass.Store, res *pass.Result) {
			afterServePass(ctx, store, res, svc, log)
			if n := notifierOf(cfg, log); n != nil && ctx.Err() == nil {
				n.Notify(ctx, store)
			}
		}}
	return executePass(ctx, cfg, o, func(store *pass.Store) {
		if n, err := store.PruneRuns(ctx, cfg.Daemon.KeepRuns); err != nil {
			log.Warn("run history retention", zap.Error(err))
		} else if n > 0 {
			log.Info("old passes removed from the state store", zap.Int64("passes", n), zap.Int("kept", cfg.Daemon.KeepRuns))
		}
		if n, err := daemon.PruneReports(cfg.ReportDir, cfg.Daemon.KeepRuns); err != nil {
			log.Warn("report retention", zap.Error(err))
		} else if n > 0 {
			log.Info("old pass reports removed", zap.Int("folders", n), zap.Int("kept", cfg.Daemon.KeepRuns))
		}
	})
}

// servePlanExport is the plan pass the console asks for: it changes
// nothing in the target and writes the plan as a Control Hub bulk-licence
// CSV, with its import notes, into the pass's report folder.
func servePlanExport(ctx context.Context, cfg *config.Config, log *zap.Logger, prog *pass.Progress, lease *pass.Lease) (*pass.Result, error) {
	exp := &exporter{reportDir: cfg.ReportDir, acknowledge: cfg.Removals.Acknowledge, batch: cfg.Apply.BatchSize}
	// The current plan decides every user, not those changed since the
	// checkpoint.
	o := passOptions{mode: pass.PlanOnly, full: true, log: log, progress: prog, lease: lease, export: exp.consume()}
	res, err := executePass(ctx, cfg, o, nil)
	if err == nil && exp.out != nil {
		log.Info("plan exported for the console", zap.String("file", exp.file), zap.Int("rows", exp.out.Rows), zap.Int("left_out", len(exp.out.LeftOut)))
	}
	return res, err
}

// afterServePass brings what the state store holds into the metrics after
// every pass, whatever its result (res is nil when it did not complete), and
// once at start.
func afterServePass(ctx context.Context, store *pass.Store, res *pass.Result, svc *daemon.Service, log *zap.Logger) {
	// A pass stopped by a signal still leaves its decisions to count.
	if err := svc.Metrics().Refresh(context.WithoutCancel(ctx), store, res); err != nil {
		log.Warn("metrics not refreshed from the state store", zap.Error(err))
	}
}

// notifierOf is the failure webhook the configuration asks for, or nil.
func notifierOf(cfg *config.Config, log *zap.Logger) *daemon.Notifier {
	n := cfg.Daemon.Notify
	if n.WebhookURL == "" {
		return nil
	}
	org := cfg.Target.Kind
	if cfg.Target.Webex != nil && cfg.Target.Webex.OrgID != "" {
		org = cfg.Target.Webex.OrgID
	}
	return &daemon.Notifier{URL: n.WebhookURL.Value(), After: n.After.D(), Org: org, Log: log}
}

// leadPass runs run when this replica leads (ld nil: a SQLite store, one
// process), with a context that ends when it stops leading; on standby it
// returns ErrNotLeader at once. A pass cut short by the loss of the lease
// says so.
func leadPass(ctx context.Context, ld *leader, run func(context.Context, *pass.Lease) (*pass.Result, error)) (*pass.Result, error) {
	if ld == nil {
		return run(ctx, nil)
	}
	lctx, ok := ld.current()
	if !ok {
		return nil, pass.ErrNotLeader
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(lctx, stop)()
	res, err := run(ctx, ld.lease)
	if err != nil && lctx.Err() != nil && !errors.Is(err, pass.ErrNotLeader) {
		err = fmt.Errorf("%w: %w", pass.ErrNotLeader, err)
	}
	return res, err
}
