package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNextFull(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	tests := []struct {
		name     string
		sched    Schedule
		now      time.Time
		wantNext time.Time
	}{
		{"before the time of day, the full pass is today",
			Schedule{FullHour: 2, Location: ny}, time.Date(2026, 1, 10, 1, 0, 0, 0, ny), time.Date(2026, 1, 10, 2, 0, 0, 0, ny)},
		{"after the time of day, the full pass is tomorrow",
			Schedule{FullHour: 2, Location: ny}, time.Date(2026, 1, 10, 3, 0, 0, 0, ny), time.Date(2026, 1, 11, 2, 0, 0, 0, ny)},
		{"exactly at the time of day, the next full pass is tomorrow",
			Schedule{FullHour: 2, Location: ny}, time.Date(2026, 1, 10, 2, 0, 0, 0, ny), time.Date(2026, 1, 11, 2, 0, 0, 0, ny)},
		{"the time of day is read in the schedule's zone, not the clock's",
			Schedule{FullHour: 2, FullMinute: 30, Location: ny}, time.Date(2026, 1, 10, 6, 0, 0, 0, time.UTC), time.Date(2026, 1, 10, 7, 30, 0, 0, time.UTC)},
		{"the minute counts",
			Schedule{FullHour: 23, FullMinute: 45, Location: berlin}, time.Date(2026, 6, 1, 23, 44, 0, 0, berlin), time.Date(2026, 6, 1, 23, 45, 0, 0, berlin)},
		{"on the spring-forward day a skipped 02:30 runs when the clock jumps to 03:30",
			Schedule{FullHour: 2, FullMinute: 30, Location: ny}, time.Date(2026, 3, 8, 1, 0, 0, 0, ny), time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)},
		{"across the autumn change the pass stays at 02:00 local, 25 hours later",
			Schedule{FullHour: 2, Location: berlin}, time.Date(2026, 10, 24, 2, 0, 0, 0, berlin), time.Date(2026, 10, 25, 2, 0, 0, 0, berlin)},
		{"a nil zone is UTC",
			Schedule{FullHour: 2}, time.Date(2026, 1, 10, 1, 0, 0, 0, time.UTC), time.Date(2026, 1, 10, 2, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sched.NextFull(tc.now); !got.Equal(tc.wantNext) {
				t.Errorf("NextFull(%s) = %s, want %s", tc.now, got, tc.wantNext.In(tc.now.Location()))
			}
		})
	}
}

type passRecord struct {
	full bool
	at   time.Time
}

// recorder is a PassFunc that notes each pass and when it ran.
type recorder struct {
	clock Clock
	ch    chan passRecord
}

func (r *recorder) pass(_ context.Context, full bool) { r.ch <- passRecord{full, r.clock.Now()} }

func (r *recorder) next(t *testing.T) passRecord {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no pass within 5s")
		return passRecord{}
	}
}

func startScheduler(t *testing.T, sc Schedule, start time.Time) (*fakeClock, *recorder, *Scheduler) {
	t.Helper()
	clock := newFakeClock(start)
	rec := &recorder{clock: clock, ch: make(chan passRecord, 100)}
	s := NewScheduler(sc, clock, rec.pass)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return clock, rec, s
}

func TestSchedulerRunsPassesOnTheSchedule(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	type want struct {
		full bool
		at   string // 15:04 in ny
	}
	tests := []struct {
		name  string
		sched Schedule
		start time.Time
		want  []want
	}{
		{"incremental passes start at once and run every 5 minutes, the full pass at 02:00 New York time replaces the one due then",
			Schedule{Every: 5 * time.Minute, FullHour: 2, Location: ny}, time.Date(2026, 1, 10, 1, 50, 0, 0, ny),
			[]want{{false, "01:50"}, {false, "01:55"}, {true, "02:00"}, {false, "02:05"}, {false, "02:10"}}},
		{"a full pass between incremental ones runs at its minute and restarts the interval",
			Schedule{Every: 10 * time.Minute, FullHour: 2, FullMinute: 3, Location: ny}, time.Date(2026, 1, 10, 1, 50, 0, 0, ny),
			[]want{{false, "01:50"}, {false, "02:00"}, {true, "02:03"}, {false, "02:13"}}},
		{"with incremental passes off only the full pass runs, once a day",
			Schedule{FullHour: 2, Location: ny}, time.Date(2026, 1, 10, 1, 50, 0, 0, ny),
			[]want{{true, "02:00"}, {true, "02:00"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock, rec, _ := startScheduler(t, tc.sched, tc.start.UTC())
			var prev time.Time
			for i, w := range tc.want {
				if i > 0 || tc.sched.Every == 0 {
					clock.set(clock.awaitWaiter(t))
				}
				p := rec.next(t)
				if got := p.at.In(ny).Format("15:04"); p.full != w.full || got != w.at {
					t.Fatalf("pass %d: full=%v at %s, want full=%v at %s", i, p.full, got, w.full, w.at)
				}
				if !prev.IsZero() && !p.at.After(prev) {
					t.Fatalf("pass %d at %s is not after the previous one at %s", i, p.at, prev)
				}
				prev = p.at
			}
		})
	}
}

func TestSchedulerNeverOverlapsAndQueuesOneMore(t *testing.T) {
	tests := []struct {
		name       string
		triggers   []bool // full flags of the triggers sent while a pass runs
		wantAnswer []TriggerResult
		wantFull   bool // of the one queued pass
	}{
		{"one trigger during a pass queues one more", []bool{false}, []TriggerResult{Queued}, false},
		{"five triggers during a pass still queue exactly one more", []bool{false, false, false, false, false},
			[]TriggerResult{Queued, AlreadyQueued, AlreadyQueued, AlreadyQueued, AlreadyQueued}, false},
		{"a full trigger joining a queued incremental one makes the queued pass full", []bool{false, true, false},
			[]TriggerResult{Queued, AlreadyQueued, AlreadyQueued}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
			var (
				mu              sync.Mutex
				fulls           []bool
				running, maxRun atomic.Int32
			)
			entered := make(chan struct{}, 10)
			release := make(chan struct{})
			pass := func(_ context.Context, full bool) {
				n := running.Add(1)
				if n > maxRun.Load() {
					maxRun.Store(n)
				}
				mu.Lock()
				fulls = append(fulls, full)
				mu.Unlock()
				entered <- struct{}{}
				<-release
				running.Add(-1)
			}
			s := NewScheduler(Schedule{FullHour: 2}, clock, pass) // incremental off: only triggers run now
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			if got := s.Trigger(false); got != Started {
				t.Fatalf("first trigger = %q, want %q", got, Started)
			}
			<-entered
			for i, full := range tc.triggers {
				if got := s.Trigger(full); got != tc.wantAnswer[i] {
					t.Errorf("trigger %d during the pass = %q, want %q", i, got, tc.wantAnswer[i])
				}
			}
			release <- struct{}{}
			<-entered // the queued pass
			release <- struct{}{}
			clock.awaitWaiter(t) // idle again: no third pass is coming
			select {
			case <-entered:
				t.Fatal("a third pass ran")
			case <-time.After(50 * time.Millisecond):
			}
			mu.Lock()
			defer mu.Unlock()
			if len(fulls) != 2 || fulls[1] != tc.wantFull {
				t.Errorf("passes (full flags) = %v, want 2 with the second full=%v", fulls, tc.wantFull)
			}
			if maxRun.Load() != 1 {
				t.Errorf("%d passes ran at once", maxRun.Load())
			}
		})
	}
}

func TestSchedulerCancelInterruptsThePassInFlightAndReturns(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	cancelled := make(chan struct{})
	s := NewScheduler(Schedule{Every: time.Minute}, clock, func(ctx context.Context, _ bool) {
		<-ctx.Done()
		close(cancelled)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for !s.Running() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Run returned but the pass never saw the cancellation")
	}
}

func TestSetScheduleTakesEffect(t *testing.T) {
	start := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	clock, rec, s := startScheduler(t, Schedule{Every: time.Hour, FullHour: 2}, start)
	rec.next(t) // the pass at start
	if at := clock.awaitWaiter(t); !at.Equal(start.Add(time.Hour)) {
		t.Fatalf("waiting until %s, want %s", at, start.Add(time.Hour))
	}
	s.SetSchedule(Schedule{Every: time.Minute, FullHour: 2})
	for {
		// The old hour-long wait stays registered; the new one is a minute.
		if at := clock.awaitWaiter(t); at.Equal(start.Add(time.Minute)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	clock.set(start.Add(time.Minute))
	if p := rec.next(t); !p.at.Equal(start.Add(time.Minute)) || p.full {
		t.Errorf("pass after the reload = %+v, want an incremental one at %s", p, start.Add(time.Minute))
	}
}

func TestSchedulerRunsAJobInThePassesTurnAndNeverBesideOne(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	var running, maxRun atomic.Int32
	order := make(chan string, 10)
	release := make(chan struct{})
	work := func(name string) {
		if n := running.Add(1); n > maxRun.Load() {
			maxRun.Store(n)
		}
		order <- name
		<-release
		running.Add(-1)
	}
	s := NewScheduler(Schedule{FullHour: 2}, clock, func(_ context.Context, full bool) { work("pass") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if got := s.Trigger(false); got != Started {
		t.Fatalf("trigger = %q, want %q", got, Started)
	}
	if got := <-order; got != "pass" {
		t.Fatalf("first ran %q, want the triggered pass", got)
	}
	if got := s.Do(func(context.Context) { work("job") }); got != Queued {
		t.Fatalf("a job asked for during a pass = %q, want %q", got, Queued)
	}
	s.Trigger(false)
	select {
	case got := <-order:
		t.Fatalf("%q started beside the pass in flight", got)
	case <-time.After(50 * time.Millisecond):
	}
	release <- struct{}{}
	// A triggered pass waiting goes before a waiting job.
	if got := <-order; got != "pass" {
		t.Fatalf("after the pass ran %q, want the queued pass", got)
	}
	release <- struct{}{}
	if got := <-order; got != "job" {
		t.Fatalf("then ran %q, want the job", got)
	}
	release <- struct{}{}
	clock.awaitWaiter(t)
	if got := s.Do(func(context.Context) { work("job") }); got != Started {
		t.Fatalf("a job asked for while idle = %q, want %q", got, Started)
	}
	if got := <-order; got != "job" {
		t.Fatalf("ran %q, want the job", got)
	}
	release <- struct{}{}
	if maxRun.Load() != 1 {
		t.Errorf("%d ran at once", maxRun.Load())
	}
}
