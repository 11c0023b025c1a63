package pass

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A lease makes one replica the leader of an organisation on a PostgreSQL
// store that several replicas share: a row (org, owner, epoch, expires)
// that the leader renews well before it expires and that a standby takes
// over, with the next epoch, once it has expired. Expiry is read on the
// database's clock, so replicas' clocks need not agree.
//
// Every write of a pass is fenced by the epoch it started under (see
// Store.FencedBy): the write's transaction first reads the lease row FOR
// SHARE and proceeds only while this owner still holds that epoch and it
// has not expired. A takeover updates the same row, so it waits for a
// fenced write in flight to commit, and every fenced write that comes
// after it fails: a leader that was paused or cut off writes nothing once
// a standby has begun.
type Lease struct {
	db         *sqlDB
	org, owner string
	ttl        time.Duration

	mu    sync.Mutex
	epoch int64 // 0 while not held
}

// ErrNotLeader is the error of a write, or a pass, by a replica that does
// not hold the organisation's lease (or no longer holds the epoch the pass
// started under).
var ErrNotLeader = errors.New("not the leader of this organisation: another replica holds its lease")

// NewLease returns owner's lease on org in store, not yet held. It needs a
// PostgreSQL store.
func NewLease(store *Store, org, owner string, ttl time.Duration) (*Lease, error) {
	if store.db.dialect != postgresDialect {
		return nil, errors.New("leases need a PostgreSQL state store")
	}
	return &Lease{db: store.db, org: org, owner: owner, ttl: ttl}, nil
}

// Org is the organisation the lease leads.
func (l *Lease) Org() string { return l.org }

// Epoch returns the epoch held, 0 when the lease is not held.
func (l *Lease) Epoch() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

func (l *Lease) set(epoch int64) {
	l.mu.Lock()
	l.epoch = epoch
	l.mu.Unlock()
}

// ttlMillis is the lease's length as the queries take it.
func (l *Lease) ttlMillis() float64 { return float64(l.ttl.Milliseconds()) }

// Acquire takes the lease when nobody holds it or its holder let it
// expire, with the next epoch; it reports whether this owner now holds it.
func (l *Lease) Acquire(ctx context.Context) (bool, error) {
	var epoch int64
	err := l.db.QueryRowContext(ctx, "INSERT INTO leases (org, owner, epoch, expires) VALUES (?, ?, 1, now() + ? * interval '1 millisecond') "+
		"ON CONFLICT (org) DO UPDATE SET owner = excluded.owner, epoch = leases.epoch + 1, expires = excluded.expires "+
		"WHERE leases.expires < now() RETURNING epoch", l.org, l.owner, l.ttlMillis()).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", l.org, err)
	}
	l.set(epoch)
	return true, nil
}

// Renew extends the lease held; ErrNotLeader when it was lost (expired and
// taken over, or expired at all: an expired lease is not renewed, so a
// leader that was paused past its expiry steps down).
func (l *Lease) Renew(ctx context.Context) error {
	epoch := l.Epoch()
	if epoch == 0 {
		return ErrNotLeader
	}
	res, err := l.db.ExecContext(ctx, "UPDATE leases SET expires = now() + ? * interval '1 millisecond' WHERE org = ? AND owner = ? AND epoch = ? AND expires > now()",
		l.ttlMillis(), l.org, l.owner, epoch)
	if err != nil {
		return fmt.Errorf("lease %s: %w", l.org, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		l.set(0)
		return ErrNotLeader
	}
	return nil
}

// Held reports whether any owner holds the lease now, unexpired.
func (l *Lease) Held(ctx context.Context) (bool, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM leases WHERE org = ? AND expires > now()", l.org).Scan(&n); err != nil {
		return false, fmt.Errorf("lease %s: %w", l.org, err)
	}
	return n > 0, nil
}

// Release gives the lease up so that a standby takes over at once; a
// leader stopping cleanly calls it.
func (l *Lease) Release(ctx context.Context) error {
	epoch := l.Epoch()
	if epoch == 0 {
		return nil
	}
	l.set(0)
	if _, err := l.db.ExecContext(ctx, "UPDATE leases SET expires = now() - interval '1 second' WHERE org = ? AND owner = ? AND epoch = ?", l.org, l.owner, epoch); err != nil {
		return fmt.Errorf("lease %s: %w", l.org, err)
	}
	return nil
}

// fence is a lease at one epoch: what a pass's writes prove they still
// hold.
type fence struct {
	org, owner string
	epoch      int64
}

// prove fails with ErrNotLeader unless f's epoch still holds its lease,
// unexpired; inside a transaction it holds the lease row until the commit,
// so no takeover happens between the proof and the write.
func (f *fence) prove(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) error {
	if f == nil {
		return nil
	}
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM leases WHERE org = ? AND owner = ? AND epoch = ? AND expires > now() FOR SHARE", f.org, f.owner, f.epoch).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("state store: epoch %d of %s: %w", f.epoch, f.org, ErrNotLeader)
	}
	if err != nil {
		return fmt.Errorf("state store: lease %s: %w", f.org, err)
	}
	return nil
}

// FencedBy returns the store as the holder of l at its current epoch sees
// it: every write it makes first proves that epoch still leads. It fails
// with ErrNotLeader when l is not held.
func (s *Store) FencedBy(l *Lease) (*Store, error) {
	epoch := l.Epoch()
	if epoch == 0 {
		return nil, fmt.Errorf("lease %s: %w", l.org, ErrNotLeader)
	}
	c := *s
	c.fence = &fence{org: l.org, owner: l.owner, epoch: epoch}
	return &c, nil
}

// CheckFence proves, outside any transaction, that the store's writer
// still leads: the pass calls it before each batch it sends the target.
func (s *Store) CheckFence(ctx context.Context) error { return s.fence.prove(ctx, s.db) }

// write runs fn in a transaction that first proves the writer still leads.
func (s *Store) write(ctx context.Context, fn func(tx *sqlTx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	defer tx.Rollback()
	if err := s.fence.prove(ctx, tx); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}
