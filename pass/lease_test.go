package pass

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
)

// expire ends org's lease now, as the passing of its time would.
func expire(t *testing.T, s *Store, org string) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), "UPDATE leases SET expires = now() - interval '1 second' WHERE org = ?", org); err != nil {
		t.Fatal(err)
	}
}

func TestOneReplicaLeadsAndAStandbyTakesOverOnlyOnceTheLeaseExpired(t *testing.T) {
	ctx := context.Background()
	d := newDemoOn(t, postgresStore, nil)
	a, err := NewLease(d.store, "default", "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewLease(d.store, "default", "replica-b", time.Minute)
	if got, err := a.Acquire(ctx); !got || err != nil || a.Epoch() != 1 {
		t.Fatalf("a: acquired %v (%v) at epoch %d, want epoch 1", got, err, a.Epoch())
	}
	if got, err := b.Acquire(ctx); got || err != nil {
		t.Fatalf("b acquired a live lease (%v)", err)
	}
	if err := a.Renew(ctx); err != nil {
		t.Fatalf("a renews its own lease: %v", err)
	}
	fencedA, err := d.store.FencedBy(a)
	if err != nil {
		t.Fatal(err)
	}
	expire(t, d.store, "default")
	if got, err := b.Acquire(ctx); !got || err != nil || b.Epoch() != 2 {
		t.Fatalf("b: acquired %v (%v) at epoch %d, want epoch 2 after a's lease expired", got, err, b.Epoch())
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrNotLeader) || a.Epoch() != 0 {
		t.Fatalf("a renews after the takeover: %v, epoch %d; want ErrNotLeader", err, a.Epoch())
	}
	if err := fencedA.beginRun(ctx, RunInfo{ID: "A-LATE", Mode: "run", Started: time.Now(), Status: "running"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a's write after the takeover: %v, want ErrNotLeader", err)
	}
	if _, err := fencedA.begin(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a's batch after the takeover: %v, want ErrNotLeader", err)
	}
	fencedB, err := d.store.FencedBy(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := fencedB.beginRun(ctx, RunInfo{ID: "B-1", Mode: "run", Started: time.Now(), Status: "running"}); err != nil {
		t.Fatalf("b's write: %v", err)
	}
	if _, err := d.store.Run(ctx, "A-LATE"); err == nil {
		t.Fatal("a's pass was recorded after the takeover")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Acquire(ctx); !got || err != nil || a.Epoch() != 3 {
		t.Fatalf("a after b released: acquired %v (%v) at epoch %d, want epoch 3", got, err, a.Epoch())
	}
}

// takenOver is the offline org whose first Apply lands, and during which a
// standby takes the lease over, as when the leader is paused mid-apply.
type takenOver struct {
	Target
	takeover func()
	calls    atomic.Int32
	changes  atomic.Int32
}

func (s *takenOver) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	if s.calls.Add(1) == 1 {
		s.takeover()
	}
	s.changes.Add(int32(len(changes)))
	return s.Target.Apply(ctx, changes)
}

func TestALeaderTakenOverMidPassSendsAndRecordsNothingMore(t *testing.T) {
	ctx := context.Background()
	d := newDemoOn(t, postgresStore, nil)
	a, _ := NewLease(d.store, "default", "replica-a", time.Minute)
	b, _ := NewLease(d.store, "default", "replica-b", time.Minute)
	if got, err := a.Acquire(ctx); !got || err != nil {
		t.Fatalf("a: %v %v", got, err)
	}
	fenced, err := d.store.FencedBy(a)
	if err != nil {
		t.Fatal(err)
	}
	tgt := &takenOver{Target: d.org, takeover: func() {
		expire(t, d.store, "default")
		if got, err := b.Acquire(ctx); !got || err != nil {
			t.Errorf("b could not take over: %v %v", got, err)
		}
	}}
	_, err = Execute(ctx, Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: tgt, Store: fenced,
		Mode: Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 3, Workers: 2, RunID: "A-1",
	})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("the pass ended with %v, want ErrNotLeader", err)
	}
	if n := tgt.calls.Load(); n != 1 {
		t.Fatalf("the target was sent %d batches, want only the one in flight when the standby took over", n)
	}
	var users int
	if err := d.store.Rows(ctx, "", func(Row) error { users++; return nil }); err != nil {
		t.Fatal(err)
	}
	if cp, _ := d.store.Checkpoint(ctx, "file"); users != 0 || cp != "" {
		t.Fatalf("the old leader recorded %d users and checkpoint %q after the takeover, want none", users, cp)
	}
	// The new leader's pass finds what landed by reading the target back.
	fencedB, err := d.store.FencedBy(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(ctx, Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: fencedB,
		Mode: Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 3, Workers: 2, RunID: "B-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	landed := int(tgt.changes.Load())
	if got := res.Summary.Outcomes[string(licensing.AlreadyProvisioned)]; landed == 0 || got < landed {
		t.Fatalf("the new leader found %d already provisioned, want at least the %d the old one wrote", got, landed)
	}
}

func TestALeaseNeedsPostgreSQL(t *testing.T) {
	d := newDemo(t)
	if _, err := NewLease(d.store, "default", "a", time.Minute); err == nil {
		t.Fatal("a lease on a SQLite store")
	}
}

func TestLeaseHoldersSayWhichReplicaLeadsEachOrganisation(t *testing.T) {
	ctx := context.Background()
	d := newDemoOn(t, postgresStore, nil)
	if got, err := d.store.LeaseHolders(ctx); err != nil || len(got) != 0 {
		t.Fatalf("before any lease: %+v (%v)", got, err)
	}
	a, err := NewLease(d.store, "default", "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := d.store.LeaseHolders(ctx)
	if err != nil || len(got) != 1 || got[0].Owner != "replica-a" || got[0].Epoch != 1 || !got[0].Live || time.Until(got[0].Expires) <= 0 {
		t.Fatalf("while replica-a leads: %+v (%v)", got, err)
	}
	expire(t, d.store, "default")
	if got, _ := d.store.LeaseHolders(ctx); len(got) != 1 || got[0].Live {
		t.Fatalf("after the lease expired: %+v, want it shown as not live", got)
	}
}
