package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

// Options configure a Service.
type Options struct {
	Schedule Schedule
	// Clock defaults to the wall clock.
	Clock Clock
	// Pass runs one pass and returns its result; a nil result with an error
	// means it did not complete. It keeps prog up to date: the watchdog
	// reads it to tell a pass that works from one that hangs.
	Pass func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error)
	// Status renders a completed pass for systemd's STATUS= line.
	Status func(*pass.Result) string
	// Notify sends a state to the service manager; it defaults to
	// sd_notify on $NOTIFY_SOCKET (a no-op outside systemd).
	Notify func(state string) error
	// Log defaults to no logging.
	Log *zap.Logger
	// TriggerToken returns the bearer token POST /v1/passes requires, read
	// at each request so a reloaded configuration applies; nil or "" turns
	// the trigger off.
	TriggerToken func() string
	// Console, when set, is the help-desk console served at / and under
	// /api/v1/; the service fills in its Status, and its ExportPlan when
	// PlanExport is set.
	Console *console.Options
	// PlanExport runs one plan pass that writes the plan as a Control Hub
	// bulk-licence CSV into its report folder, for the console's Downloads
	// page; it runs in the passes' turn (Scheduler.Do).
	PlanExport func(ctx context.Context, prog *pass.Progress) (*pass.Result, error)
	// Leadership, when set, says which organisations this replica leads
	// on a state store replicas share; /readyz lists them.
	Leadership *Leadership
}

// Service is the long-running licensync: its scheduler, its metrics and
// its readiness.
type Service struct {
	o       Options
	sched   *Scheduler
	metrics *Metrics
	ready   atomic.Bool
	alive   atomic.Bool
	running atomic.Pointer[runningPass]
	errs    passErrors
	export  planExport
	// console is the help-desk console the handler serves, nil without
	// one; orgsLead is the replica's leadership it shows in the orgs
	// form, where the service has no Leadership of its own.
	console  *console.Console
	orgsLead *Leadership
}

// runningPass is the pass in flight, as the watchdog sees it.
type runningPass struct {
	prog    *pass.Progress
	started time.Time
}

// New returns a service; Run starts it.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = WallClock
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Notify == nil {
		o.Notify = func(state string) error {
			_, err := sdnotify.SdNotify(false, state)
			return err
		}
	}
	s := &Service{o: o, metrics: NewMetrics()}
	if o.Leadership != nil {
		s.metrics.reg.MustRegister(o.Leadership.leader, o.Leadership.takeovers)
	}
	s.sched = NewScheduler(o.Schedule, o.Clock, s.runPass)
	return s
}

// Scheduler returns the service's scheduler.
func (s *Service) Scheduler() *Scheduler { return s.sched }

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// Ready reports whether the service has state to stand on: a pass
// succeeded in this process, or the state store held a successful one.
func (s *Service) Ready() bool { return s.ready.Load() }

// StateLoaded tells the service the configuration and the state store are
// loaded: it sends READY=1, and when the store held a successful pass
// (lastSuccess not zero) the service is ready at once.
func (s *Service) StateLoaded(lastSuccess time.Time, status string) {
	if !lastSuccess.IsZero() {
		s.metrics.SetLastSuccess(lastSuccess)
		s.ready.Store(true)
	}
	s.notify("READY=1\nSTATUS=" + status)
}

func (s *Service) notify(state string) {
	if err := s.o.Notify(state); err != nil {
		s.o.Log.Warn("sd_notify failed", zap.String("state", strings.SplitN(state, "\n", 2)[0]), zap.Error(err))
	}
}

func (s *Service) runPass(ctx context.Context, full bool) {
	kind := KindIncremental
	if full {
		kind = KindFull
	}
	s.metrics.Start()
	start := time.Now()
	prog := &pass.Progress{}
	s.running.Store(&runningPass{prog: prog, started: start})
	res, err := s.o.Pass(ctx, full, prog)
	s.running.Store(nil)
	took := time.Since(start)
	switch {
	case err == nil:
		if res.Run.Full {
			kind = KindFull
		}
		s.metrics.Observe(kind, ResultSucceeded, took, &res.Summary, res.Run.Ended)
		s.ready.Store(true)
		s.errs.clear()
		status := s.o.Status(res)
		s.o.Log.Info("pass succeeded", zap.String("kind", kind), zap.String("summary", status))
		s.notify("STATUS=" + status)
	case err == pass.ErrNotLeader:
		// A standby: another replica runs this organisation's passes.
		s.metrics.inProgress.Set(0)
		s.o.Log.Debug("pass skipped: another replica leads", zap.String("kind", kind))
	case errors.Is(err, pass.ErrNotLeader):
		s.metrics.Observe(kind, ResultInterrupted, took, nil, time.Time{})
		s.o.Log.Warn("pass stopped: this replica lost the lease; the new leader goes on from the last checkpoint", zap.String("kind", kind), zap.Error(err))
	case ctx.Err() != nil:
		s.metrics.Observe(kind, ResultInterrupted, took, nil, time.Time{})
		s.o.Log.Warn("pass interrupted", zap.String("kind", kind), zap.Error(err))
		s.notify("STATUS=" + kind + " pass interrupted: shutting down")
	default:
		s.metrics.Observe(kind, ResultFailed, took, nil, time.Time{})
		s.errs.record(err, time.Now())
		s.o.Log.Error("pass failed", zap.String("kind", kind), zap.Error(err))
		s.notify("STATUS=" + kind + " pass failed: " + err.Error())
	}
}

// Run runs the scheduler until ctx is done and, when systemd asked for a
// watchdog ($WATCHDOG_USEC), sends WATCHDOG=1 at half its interval while the
// service makes progress: between passes, and during a pass that in the
// last interval read, decided or applied a user, got an answer from the
// source or the target, or waited out a Retry-After. A pass that hangs
// stops the pings, and systemd restarts the service.
func (s *Service) Run(ctx context.Context) {
	s.alive.Store(true)
	defer s.alive.Store(false)
	interval, err := sdnotify.SdWatchdogEnabled(false)
	if err != nil {
		s.o.Log.Warn("watchdog settings ignored", zap.Error(err))
	}
	done := make(chan struct{})
	defer func() { <-done }()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(done)
		if interval <= 0 {
			return
		}
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		var w progressWatch
		for {
			if s.alive.Load() && w.healthy(s.running.Load(), time.Now(), interval, s) {
				s.notify("WATCHDOG=1")
			}
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	s.sched.Run(ctx)
	s.notify("STOPPING=1")
}

// progressWatch follows the pass in flight from one watchdog tick to the
// next.
type progressWatch struct {
	pass    *runningPass
	seen    int64     // the pass's counters at the last tick
	last    time.Time // when the pass was last seen moving
	stalled bool      // the stall has been logged
}

// healthy reports whether the service is making progress at now: no pass
// runs, or the one that runs moved within the last interval (a user read,
// decided or applied, an answer received) or is waiting out a wait it
// announced. It logs the moment a pass stalls.
func (w *progressWatch) healthy(cur *runningPass, now time.Time, interval time.Duration, s *Service) bool {
	if cur == nil {
		w.pass = nil
		return true
	}
	p := cur.prog
	n := p.Read.Load() + p.Decided.Load() + p.Applied.Load() + p.Liveness.Answers()
	switch {
	case cur != w.pass:
		w.pass, w.seen, w.last, w.stalled = cur, n, cur.started, false
	case n != w.seen || now.Before(p.Liveness.WaitingUntil()):
		w.seen, w.last, w.stalled = n, now, false
	}
	if now.Sub(w.last) < interval {
		return true
	}
	if !w.stalled {
		w.stalled = true
		idle := now.Sub(w.last).Round(time.Second)
		s.o.Log.Error("pass makes no progress; the watchdog is no longer fed, so the service manager restarts the service",
			zap.Duration("since", idle), zap.Int64("read", p.Read.Load()), zap.Int64("decided", p.Decided.Load()), zap.Int64("applied", p.Applied.Load()))
		s.notify(fmt.Sprintf("STATUS=pass stalled: no progress for %s (read %d, decided %d, applied %d)", idle, p.Read.Load(), p.Decided.Load(), p.Applied.Load()))
	}
	return false
}

// Handler serves GET /healthz, GET /readyz, GET /metrics, open to anyone
// who reaches the port, and POST /v1/passes (?full=true for a full pass),
// which only a client holding the trigger token may call; and, when
// Options.Console is set, the help-desk console at every other path.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "alive", "pass_running": s.sched.Running()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready: no pass has succeeded yet"})
			return
		}
		body := map[string]any{"status": "ready"}
		if s.o.Leadership != nil {
			orgs, epochs := s.o.Leadership.Leads()
			leads := make([]map[string]any, len(orgs))
			for i := range orgs {
				leads[i] = map[string]any{"org": orgs[i], "epoch": epochs[i]}
			}
			body["leads"] = leads
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("POST /v1/passes", func(w http.ResponseWriter, r *http.Request) {
		if code, why := s.refuseTrigger(r); code != 0 {
			s.o.Log.Warn("pass trigger refused", zap.Int("status", code), zap.String("why", why), zap.String("remote", r.RemoteAddr))
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="licensync"`)
			}
			writeJSON(w, code, map[string]any{"error": why})
			return
		}
		full := false
		if v := r.URL.Query().Get("full"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("full=%q is not true or false", v)})
				return
			}
			full = b
		}
		res := s.sched.Trigger(full)
		s.o.Log.Info("pass triggered", zap.Bool("full", full), zap.String("result", string(res)), zap.String("remote", r.RemoteAddr))
		writeJSON(w, http.StatusAccepted, map[string]any{"status": string(res), "full": full})
	})
	if s.o.Console != nil {
		s.mountConsole(mux)
	}
	return mux
}

// refuseTrigger returns the status and the reason to refuse a trigger
// with, or 0. A pass writes to the organisation, so the trigger takes a
// bearer token, and it refuses what a web page the operator opens could
// send: a request from another origin, or a form (a browser sends those
// without asking the server first; it cannot add an Authorization header
// to another origin without a CORS preflight, which is never allowed here).
func (s *Service) refuseTrigger(r *http.Request) (int, string) {
	var want string
	if s.o.TriggerToken != nil {
		want = s.o.TriggerToken()
	}
	if want == "" {
		return http.StatusForbidden, "the trigger is off: set daemon.trigger_token (like file:trigger-token) and send it as Authorization: Bearer <token>"
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			return http.StatusForbidden, "a request from another origin is refused"
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" || mt == "text/plain" {
			return http.StatusUnsupportedMediaType, "a form is refused: send no body, or application/json"
		}
	}
	scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || got == "" {
		return http.StatusUnauthorized, "send the trigger token as Authorization: Bearer <token>"
	}
	// Comparing digests takes the same time whatever the token's length
	// and however much of it is right.
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return http.StatusForbidden, "the trigger token is wrong"
	}
	return 0, ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
