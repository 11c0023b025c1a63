package pass

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
)

// endless is a source that never runs out of users: it counts what it
// emitted and reports the error it stopped on.
type endless struct {
	emitted atomic.Int64
	stopped chan error
}

func newEndless() *endless { return &endless{stopped: make(chan error, 1)} }

func (e *endless) Users(ctx context.Context, _ string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	for i := 0; ; i++ {
		err := ctx.Err()
		if err == nil {
			err = emit(licensing.DirectoryUser{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@corp.example", i), Enabled: true})
		}
		if err != nil {
			e.stopped <- err
			return "", false, err
		}
		e.emitted.Add(1)
	}
}

func (e *endless) Close() error { return nil }

// stoppedWithin waits for the source to stop and returns what it stopped on.
func (e *endless) stoppedWithin(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-e.stopped:
		return err
	case <-time.After(d):
		t.Fatalf("the source was still being read %v later, %d users in", d, e.emitted.Load())
		return nil
	}
}

// firstRead is a source that says when it emitted its first user.
type firstRead struct {
	Source
	once  sync.Once
	first chan struct{}
}

func (f *firstRead) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	return f.Source.Users(ctx, since, func(u licensing.DirectoryUser) error {
		f.once.Do(func() { close(f.first) })
		return emit(u)
	})
}

// waitsForTheSource is a target whose snapshot loads only once the source
// is being read.
type waitsForTheSource struct {
	*offline.Org
	first chan struct{}
}

func (w waitsForTheSource) Snapshot(ctx context.Context) (*licensing.Org, error) {
	select {
	case <-w.first:
		return w.Org.Snapshot(ctx)
	case <-time.After(30 * time.Second):
		return nil, errors.New("the source was not read while the snapshot loaded")
	}
}

func TestTheDirectoryStreamsInWhileTheSnapshotLoads(t *testing.T) {
	d := newDemo(t)
	want := d.pass(t, PlanOnly, "PLAN-1")
	res, err := d.run(PlanOnly, "PLAN-2", func(o *Options) {
		src := &firstRead{Source: o.Source, first: make(chan struct{})}
		o.Source, o.Target = src, waitsForTheSource{Org: d.org, first: src.first}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, w := fmt.Sprint(res.Summary.Users, res.Summary.Outcomes, res.Summary.Causes), fmt.Sprint(want.Summary.Users, want.Summary.Outcomes, want.Summary.Causes); got != w || want.Summary.Users == 0 {
		t.Fatalf("summary = %s, want %s as when the snapshot does not wait", got, w)
	}
}

func TestAPassWhoseSnapshotFailsStopsReadingItsSource(t *testing.T) {
	d := newDemo(t)
	src := newEndless()
	_, err := d.run(PlanOnly, "PLAN-1", func(o *Options) { o.Source, o.Target = src, down{d.org} })
	if err == nil || err.Error() != "target snapshot: target down" {
		t.Fatalf("err = %v, want the snapshot's", err)
	}
	if err := src.stoppedWithin(t, 10*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("the source stopped on %v, want the pass's end", err)
	}
	if n, most := src.emitted.Load(), int64((readAheadChunks+2)*readAheadChunk); n > most {
		t.Fatalf("the source read %d users ahead, want at most %d", n, most)
	}
}

func TestAReadAheadSourceHandsOnTheErrorThatStoppedThePass(t *testing.T) {
	stop := errors.New("the pass stops here")
	tests := []struct {
		name  string
		since string
		after int
		want  error
	}{
		{name: "an error from emit comes back as it was", after: 5, want: stop},
		{name: "another checkpoint than the one read from is refused", since: "T9", want: errReadAheadSince},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newEndless()
			var read atomic.Int64
			a := readAhead(context.Background(), src, "", &read)
			n := 0
			_, _, err := a.Users(context.Background(), tt.since, func(licensing.DirectoryUser) error {
				if n++; n > tt.after {
					return stop
				}
				return nil
			})
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err := src.stoppedWithin(t, 10*time.Second); !errors.Is(err, context.Canceled) {
				t.Fatalf("the source stopped on %v, want the read ahead's end", err)
			}
		})
	}
}
