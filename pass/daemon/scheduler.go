// Package daemon is licensync's long-running service: a scheduler that runs
// incremental passes every few minutes and a full pass at a time of day,
// never two at once; an HTTP server with health, readiness, Prometheus
// metrics and a trigger; and the systemd notifications (READY, WATCHDOG,
// STATUS) a Type=notify unit expects.
//
// The package decides when passes run and what is reported about them; the
// pass itself is a function the caller supplies (cmd/licensync wires it to
// pass.Execute).
package daemon

import (
	"context"
	"sync"
	"time"
)

// Clock is the time source of the scheduler; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After delivers the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// WallClock is the real clock.
var WallClock Clock = wallClock{}

// Schedule says when passes are due.
type Schedule struct {
	// Every is the time from the start of one pass to the next incremental
	// pass; 0 turns incremental passes off.
	Every time.Duration
	// FullHour and FullMinute are the time of day of the full pass, read in
	// Location (UTC when nil).
	FullHour, FullMinute int
	Location             *time.Location
}

// NextFull returns the first full-pass time strictly after t. On a day the
// clock skips that time (a daylight-saving change), it is as long after
// midnight as the time of day says: 02:30 becomes 03:30 when 02:00 jumps to
// 03:00.
func (s Schedule) NextFull(t time.Time) time.Time {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	next := s.fullOn(l.Year(), l.Month(), l.Day(), loc)
	if !next.After(t) {
		next = s.fullOn(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return next
}

func (s Schedule) fullOn(y int, m time.Month, d int, loc *time.Location) time.Time {
	at := time.Date(y, m, d, s.FullHour, s.FullMinute, 0, 0, loc)
	if at.Hour() == s.FullHour && at.Minute() == s.FullMinute {
		return at
	}
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	return midnight.Add(time.Duration(s.FullHour)*time.Hour + time.Duration(s.FullMinute)*time.Minute)
}

// PassFunc runs one pass; full asks it to ignore the incremental checkpoint.
// It reports its own failures: the scheduler carries on either way.
type PassFunc func(ctx context.Context, full bool)

// TriggerResult says what a trigger did.
type TriggerResult string

// The trigger results.
const (
	// Started: no pass was running; one starts now.
	Started TriggerResult = "started"
	// Queued: a pass is running; one more runs when it ends.
	Queued TriggerResult = "queued"
	// AlreadyQueued: a pass is running and another is already waiting; the
	// trigger joins it (and makes it full if it asked for a full pass).
	AlreadyQueued TriggerResult = "already queued"
)

// Scheduler runs passes on a Schedule and on demand, one at a time.
type Scheduler struct {
	clock Clock
	pass  PassFunc
	wake  chan struct{}

	mu         sync.Mutex
	sched      Schedule
	resched    bool
	running    bool
	queued     bool
	queuedFull bool
	// jobs wait for their turn between passes (Do).
	jobs []func(context.Context)
	// nextInc and nextFull are when Run will start the next scheduled
	// passes; zero while Run is not running or incremental passes are off.
	nextInc, nextFull time.Time
}

// Next returns when the next scheduled incremental and full passes are
// due; zero when none is (before Run starts, or with incremental passes
// off).
func (s *Scheduler) Next() (incremental, full time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextInc, s.nextFull
}

// NewScheduler returns a scheduler; Run starts it.
func NewScheduler(s Schedule, clock Clock, pass PassFunc) *Scheduler {
	if clock == nil {
		clock = WallClock
	}
	return &Scheduler{clock: clock, pass: pass, sched: s, wake: make(chan struct{}, 1)}
}

// SetSchedule replaces the schedule, as after a configuration reload; the
// next due times are worked out again from now.
func (s *Scheduler) SetSchedule(sc Schedule) {
	s.mu.Lock()
	s.sched, s.resched = sc, true
	s.mu.Unlock()
	s.poke()
}

// Trigger asks for a pass now. It never starts a second pass beside a
// running one: while one runs, at most one more waits, whatever the number
// of triggers.
func (s *Scheduler) Trigger(full bool) TriggerResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	switch {
	case s.queued:
		s.queuedFull = s.queuedFull || full
		return AlreadyQueued
	case s.running:
		s.queued, s.queuedFull = true, full
		return Queued
	default:
		s.queued, s.queuedFull = true, full
		return Started
	}
}

// Do queues job to run in the passes' turn: after the pass in flight and
// a triggered pass already waiting, never beside another pass. It is for
// work that reads the source and the target like a pass does, such as a
// plan made on demand.
func (s *Scheduler) Do(job func(ctx context.Context)) TriggerResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	busy := s.running || s.queued || len(s.jobs) > 0
	s.jobs = append(s.jobs, job)
	if busy {
		return Queued
	}
	return Started
}

// Running reports whether a pass is in progress.
func (s *Scheduler) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run runs passes until ctx is done: an incremental pass at once (when they
// are on) and then every Schedule.Every, a full pass at the full-pass time,
// and the triggered ones. A pass in flight gets ctx, so cancelling ctx
// interrupts it; Run returns once it has.
func (s *Scheduler) Run(ctx context.Context) {
	now := s.clock.Now()
	s.mu.Lock()
	sc := s.sched
	s.mu.Unlock()
	nextFull := sc.NextFull(now)
	var nextInc time.Time // zero: incremental passes are off
	if sc.Every > 0 {
		nextInc = now
	}
	for ctx.Err() == nil {
		now = s.clock.Now()
		s.mu.Lock()
		if s.resched {
			sc, s.resched = s.sched, false
			nextFull = sc.NextFull(now)
			nextInc = time.Time{}
			if sc.Every > 0 {
				nextInc = now.Add(sc.Every)
			}
		}
		due, full, scheduledFull := true, false, false
		var job func(context.Context)
		switch {
		case s.queued:
			full, s.queued, s.queuedFull = s.queuedFull, false, false
		case len(s.jobs) > 0:
			job, s.jobs = s.jobs[0], s.jobs[1:]
		case !now.Before(nextFull):
			full, scheduledFull = true, true
		case !nextInc.IsZero() && !now.Before(nextInc):
		default:
			due = false
		}
		s.running = due
		s.mu.Unlock()

		if job != nil {
			// A job is no pass: the schedule stays where it was.
			job(ctx)
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			continue
		}
		if due {
			s.pass(ctx, full)
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			if sc.Every > 0 {
				nextInc = now.Add(sc.Every)
			}
			if scheduledFull {
				nextFull = sc.NextFull(now)
			}
			continue
		}
		s.mu.Lock()
		s.nextInc, s.nextFull = nextInc, nextFull
		s.mu.Unlock()
		wait := nextFull.Sub(now)
		if !nextInc.IsZero() {
			wait = min(wait, nextInc.Sub(now))
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-s.clock.After(wait):
		}
	}
}
