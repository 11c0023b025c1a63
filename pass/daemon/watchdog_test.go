package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/licensing/webex"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// demoConfig copies the repository's demo (a directory CSV and an offline
// organisation) and loads its configuration.
func demoConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "demo")
	for _, f := range []string{"licensync.yaml", "directory.csv", "org/locations.csv", "org/numbers.csv", "org/licenses.csv", "org/people.csv"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// stallingSource emits the directory's users, then stops answering, as a
// directory server that accepts a request and never replies.
type stallingSource struct {
	pass.Source
	stalled chan struct{}
}

func (s *stallingSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	if _, _, err := s.Source.Users(ctx, since, emit); err != nil {
		return "", false, err
	}
	close(s.stalled)
	<-ctx.Done()
	return "", false, ctx.Err()
}

// throttlingWebex answers like an empty Webex organisation, except that
// the first request is answered 429 with a Retry-After of retryAfter.
func throttlingWebex(t *testing.T, retryAfter time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var throttled atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if throttled.CompareAndSwap(0, 1) {
			w.Header().Set("Retry-After", fmt.Sprint(int(retryAfter.Seconds())))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"items":[],"locations":[],"phoneNumbers":[]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &throttled
}

// pings collects the times WATCHDOG=1 arrives, and every other message.
type pings struct {
	at    chan time.Time
	other chan string
}

func collect(msgs <-chan string) *pings {
	p := &pings{at: make(chan time.Time, 1000), other: make(chan string, 100)}
	go func() {
		for m := range msgs {
			if m == "WATCHDOG=1" {
				p.at <- time.Now()
			} else {
				p.other <- m
			}
		}
	}()
	return p
}

// since drains the pings received so far and returns those at or after t.
func (p *pings) since(t time.Time) []time.Time {
	var out []time.Time
	for {
		select {
		case at := <-p.at:
			if !at.Before(t) {
				out = append(out, at)
			}
		default:
			return out
		}
	}
}

func TestAPassThatStopsMakingProgressStopsTheWatchdogPings(t *testing.T) {
	const interval = 300 * time.Millisecond
	msgs := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", fmt.Sprint(interval.Microseconds()))
	cfg := demoConfig(t)
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); org.Close() })
	src := &stallingSource{Source: file.New(cfg.Source.File.Path, nil), stalled: make(chan struct{})}
	var read atomic.Int64
	svc := New(Options{
		Schedule: Schedule{Every: time.Hour},
		Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
			defer func() { read.Store(prog.Read.Load()) }()
			return pass.Execute(ctx, pass.Options{
				Policy: cfg.Policy(), Source: src, Target: org, Store: store, Mode: pass.Apply,
				Full: full, SourceKey: "file", ReportDir: cfg.ReportDir, Progress: prog,
			})
		},
		Status: status,
	})
	p := collect(msgs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()

	select {
	case <-src.stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("the source never stalled")
	}
	stalledAt := time.Now()
	select {
	case <-p.at: // the service pinged while it started and read
	case <-time.After(2 * time.Second):
		t.Error("no WATCHDOG=1 while the pass read the directory")
	}
	// The last progress was the last user read: a ping may still be sent
	// up to one interval after it, and arrive a little later; none after.
	time.Sleep(6 * interval)
	late := p.since(stalledAt.Add(2 * interval))
	cancel()
	<-done
	if len(late) > 0 {
		t.Errorf("%d WATCHDOG=1 pings arrived more than two intervals after the source stopped answering; the first %s after", len(late), late[0].Sub(stalledAt))
	}
	if n := read.Load(); n == 0 {
		t.Errorf("the pass read %d users before the source stalled; the test needs some", n)
	}
	var stallStatus string
	for len(p.other) > 0 {
		if m := <-p.other; strings.HasPrefix(m, "STATUS=pass stalled") {
			stallStatus = m
		}
	}
	if !strings.Contains(stallStatus, "read 34") {
		t.Errorf("no STATUS= saying the pass stalled after reading the 34 users (got %q)", stallStatus)
	}
}

func TestAPassWaitingOutARetryAfterKeepsTheWatchdogFed(t *testing.T) {
	const interval = 400 * time.Millisecond
	const retryAfter = 3 * time.Second
	msgs := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", fmt.Sprint(interval.Microseconds()))
	cfg := demoConfig(t)
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv, throttled := throttlingWebex(t, retryAfter)
	tgt, err := webex.New(webex.Options{BaseURL: srv.URL, Token: "t0k3n", Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	svc := New(Options{
		Schedule: Schedule{Every: time.Hour},
		Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
			res, err := pass.Execute(ctx, pass.Options{
				Policy: cfg.Policy(), Source: file.New(cfg.Source.File.Path, nil), Target: tgt, Store: store,
				Mode: pass.Apply, Full: full, SourceKey: "file", ReportDir: cfg.ReportDir, Progress: prog,
			})
			ended <- err
			return res, err
		},
		Status: status,
	})
	p := collect(msgs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { svc.Run(ctx); close(done) }()
	var passErr error
	select {
	case passErr = <-ended:
	case <-time.After(retryAfter + 10*time.Second):
		t.Fatal("the pass did not end")
	}
	took := time.Since(start)
	cancel()
	<-done
	if passErr != nil {
		t.Fatalf("pass: %v", passErr)
	}
	if throttled.Load() != 1 || took < retryAfter {
		t.Fatalf("the pass took %s and was throttled %d times; the test needs one wait of %s", took, throttled.Load(), retryAfter)
	}
	got := p.since(start)
	if len(got) < int(retryAfter/interval) {
		t.Fatalf("%d WATCHDOG=1 pings over a %s pass with a %s interval", len(got), took.Round(time.Millisecond), interval)
	}
	// Pings are sent every half interval; a gap of an interval and a half
	// leaves room for a loaded machine and is still far below the wait.
	prev := start
	for _, at := range got {
		if gap := at.Sub(prev); gap >= interval*3/2 {
			t.Errorf("no WATCHDOG=1 for %s, %s into the pass: systemd would have restarted it", gap.Round(time.Millisecond), prev.Sub(start).Round(time.Millisecond))
		}
		prev = at
	}
}
