package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
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
			cfg, err := g.loadAll()
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

// orgService is one organisation's part of serve: its configuration,
// kept current by reloads, its service (scheduler, passes, metrics) and,
// on a PostgreSQL store, its lease.
type orgService struct {
	name   string
	cur    atomic.Pointer[config.Config]
	cstore *pass.Store
	svc    *daemon.Service
	ld     *leader
}

// appPrefix begins the application_name of every serve replica's
// connections, by which replicas count each other.
const appPrefix = "licensync serve "

// newOrgService opens o's state store and builds its service; with
// several organisations each logs with its name, and its console is
// served under /orgs/NAME/.
func newOrgService(ctx context.Context, o config.OrgConfig, multi bool, owner string, lead *daemon.Leadership, sp *spread, log *zap.Logger) (*orgService, error) {
	u := &orgService{name: o.Name}
	u.cur.Store(o.Config)
	if multi {
		log = log.With(zap.String("org", o.Name))
	}
	st := stateOf(o.Config)
	st.AppName = appPrefix + owner[strings.IndexByte(owner, '/')+1:]
	// The console and the lease use a handle of their own while passes
	// write on theirs.
	cstore, err := pass.Open(ctx, st)
	if err != nil {
		return nil, err
	}
	u.cstore = cstore
	if lead != nil {
		if u.ld, err = newLeader(cstore, o.Name, owner, o.Daemon.LeaseTTL.D(), log, lead, func() { u.svc.Scheduler().Trigger(false) }); err != nil {
			cstore.Close()
			return nil, err
		}
		u.ld.spread = sp
	}
	opts := daemon.Options{
		Schedule: scheduleOf(o.Config),
		Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
			return leadPass(ctx, u.ld, func(ctx context.Context, lease *pass.Lease) (*pass.Result, error) {
				return servePass(ctx, u.cur.Load(), full, log, prog, u.svc, lease)
			})
		},
		PlanExport: func(ctx context.Context, prog *pass.Progress) (*pass.Result, error) {
			return leadPass(ctx, u.ld, func(ctx context.Context, lease *pass.Lease) (*pass.Result, error) {
				return servePlanExport(ctx, u.cur.Load(), log, prog, lease)
			})
		},
		Status:       summaryLine,
		Log:          log,
		TriggerToken: func() string { return u.cur.Load().Daemon.TriggerToken.Value() },
	}
	opts.Console = consoleOptions(&u.cur, cstore, log)
	if multi {
		opts.Console.Base, opts.Console.API = "/orgs/"+o.Name, "/api/v1/orgs/"+o.Name
	} else {
		opts.Leadership = lead
	}
	u.svc = daemon.New(opts)
	return u, nil
}

func serve(ctx context.Context, g *globals, cfg *config.Config, log *zap.Logger) error {
	if g.org != "" {
		return &exitError{exitUsage, errors.New("--org: serve runs every organisation of the configuration; --org is for the one-shot commands")}
	}
	orgs := cfg.Orgs()
	multi := cfg.MultiOrg()
	// Replicas share a PostgreSQL store under leases; a SQLite store has
	// one process, under the instance lock.
	if !cfg.StateIsPostgres() {
		for _, o := range orgs {
			release, _, err := lockState(ctx, o.Config, log)
			if err != nil {
				return err
			}
			defer func() {
				if err := release(); err != nil {
					log.Warn("releasing the instance lock", zap.Error(err))
				}
			}()
		}
	}
	owner := replicaID()
	var leadership *daemon.Leadership
	var sp *spread
	if cfg.StateIsPostgres() {
		leadership = daemon.NewLeadership(cfg.OrgNames())
		if multi {
			sp = &spread{orgs: len(orgs), lead: leadership, prefix: appPrefix, ttl: cfg.Daemon.LeaseTTL.D(), log: log}
		}
	}
	units := make([]*orgService, 0, len(orgs))
	for _, o := range orgs {
		u, err := newOrgService(ctx, o, multi, owner, leadership, sp, log)
		if err != nil {
			return err
		}
		defer u.cstore.Close()
		units = append(units, u)
	}
	if sp != nil {
		sp.store = units[0].cstore
	}
	type loaded struct {
		last   time.Time
		status string
	}
	states := make([]loaded, len(units))
	for i, u := range units {
		last, status, err := loadState(ctx, u.cur.Load(), func(store *pass.Store) { afterServePass(ctx, store, nil, u.svc, log) })
		if err != nil {
			return err
		}
		states[i] = loaded{last, status}
	}
	handler := units[0].svc.Handler()
	if multi {
		services := map[string]*daemon.Service{}
		for _, u := range units {
			services[u.name] = u.svc
		}
		handler = daemon.NewOrgs(services, leadership).Handler()
	}
	ln, err := net.Listen("tcp", cfg.Daemon.Listen)
	if err != nil {
		return fmt.Errorf("daemon.listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	log.Info("listening", zap.String("addr", ln.Addr().String()), zap.String("config", cfg.File), zap.String("state", cfg.State), zap.Strings("orgs", cfg.OrgNames()))
	for i, u := range units {
		u.svc.StateLoaded(states[i].last, states[i].status)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var running sync.WaitGroup
	for _, u := range units {
		running.Add(1)
		go func() { u.svc.Run(runCtx); running.Done() }()
	}
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	var leading sync.WaitGroup
	for _, u := range units {
		if u.ld != nil {
			leading.Add(1)
			go func() { u.ld.run(runCtx); leading.Done() }()
		}
	}
	// The leases are given up before the process ends, so a standby
	// takes over at once.
	defer leading.Wait()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-done:
			running = false
		case <-hup:
			if next, ok := reload(g, cfg, log); ok {
				cfg = next
				for _, u := range units {
					o, _ := next.FindOrg(u.name)
					u.cur.Store(o.Config)
					u.svc.Scheduler().SetSchedule(scheduleOf(o.Config))
				}
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
	next, err := g.loadAll()
	if err != nil {
		log.Error("configuration reload refused; keeping the running configuration", zap.Error(err))
		return nil, false
	}
	if !slices.Equal(next.OrgNames(), old.OrgNames()) {
		log.Error("configuration reload refused: the organisations changed; restart to add or remove one", zap.Strings("orgs", old.OrgNames()), zap.Strings("new_orgs", next.OrgNames()))
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
