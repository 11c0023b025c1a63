package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon"
)

// leader keeps one replica's lease on an organisation of a PostgreSQL
// state store that replicas share: it takes the lease when it is free,
// renews it every third of its TTL, and steps down (cancelling the pass in
// flight) when it is lost or cannot be renewed in time.
type leader struct {
	lease  *pass.Lease
	ttl    time.Duration
	log    *zap.Logger
	lead   *daemon.Leadership
	onGain func()
	// spread, when set, keeps this replica to its share of several
	// organisations.
	spread *spread
	// freeSince is when this replica, over its share, first saw the
	// organisation's lease free.
	freeSince time.Time

	mu      sync.Mutex
	ctx     context.Context // done once leadership is lost; nil on standby
	cancel  context.CancelFunc
	epoch   int64
	renewed time.Time
}

// replicaID names this process among the replicas: host, pid and a random
// part, so a restarted process is never taken for its former self.
func replicaID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func newLeader(store *pass.Store, org, owner string, ttl time.Duration, log *zap.Logger, lead *daemon.Leadership, onGain func()) (*leader, error) {
	lease, err := pass.NewLease(store, org, owner, ttl)
	if err != nil {
		return nil, err
	}
	return &leader{lease: lease, ttl: ttl, log: log.With(zap.String("org", org)), lead: lead, onGain: onGain}, nil
}

// current returns a context that ends when this replica stops leading, and
// whether it leads now.
func (l *leader) current() (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx, l.ctx != nil
}

// run keeps the lease until ctx ends, then gives it up so that a standby
// takes over at once.
func (l *leader) run(ctx context.Context) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		l.tick(ctx)
		select {
		case <-ctx.Done():
			l.stepDown(stopping)
			return
		case <-t.C:
		}
	}
}

func (l *leader) tick(ctx context.Context) {
	qctx, stop := context.WithTimeout(ctx, l.ttl/3)
	defer stop()
	if _, leading := l.current(); !leading {
		if l.spread != nil {
			l.spread.mu.Lock()
			defer l.spread.mu.Unlock()
			if !l.spread.mayTake(qctx, l) {
				return
			}
		}
		got, err := l.lease.Acquire(qctx)
		switch {
		case err != nil:
			l.log.Warn("lease: cannot reach the state store", zap.Error(err))
		case got:
			l.gain()
		}
		return
	}
	err := l.lease.Renew(qctx)
	switch {
	case err == nil:
		l.mu.Lock()
		l.renewed = time.Now()
		l.mu.Unlock()
		if l.spread != nil {
			l.spread.shed(qctx, l)
		}
	case errors.Is(err, pass.ErrNotLeader):
		l.stepDown("the lease ran out before it was renewed")
	default:
		// Step down before the lease can have run out on the database's
		// clock: by then a standby may lead.
		l.mu.Lock()
		late := time.Since(l.renewed) > l.ttl*2/3
		l.mu.Unlock()
		l.log.Warn("lease: renewal failed", zap.Error(err), zap.Bool("stepping_down", late))
		if late {
			l.stepDown("the lease could not be renewed")
		}
	}
}

func (l *leader) gain() {
	epoch := l.lease.Epoch()
	l.mu.Lock()
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.epoch, l.renewed = epoch, time.Now()
	l.mu.Unlock()
	l.lead.Gained(l.lease.Org(), epoch)
	l.log.Info("leading: took the lease; passes go on from the last checkpoint", zap.Int64("epoch", epoch))
	l.onGain()
}

func (l *leader) stepDown(why string) {
	l.mu.Lock()
	cancel, epoch := l.cancel, l.epoch
	l.ctx, l.cancel = nil, nil
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	l.lead.Lost(l.lease.Org())
	ctx, stop := context.WithTimeout(context.Background(), l.ttl/3)
	defer stop()
	if err := l.lease.Release(ctx); err != nil {
		l.log.Warn("lease: not released; it runs out by itself", zap.Error(err))
	}
	logAt := l.log.Warn
	if why == stopping {
		logAt = l.log.Info
	}
	logAt("standing by: stopped leading", zap.String("why", why), zap.Int64("epoch", epoch))
}

// stopping is why a leader that is stopping gives its lease up.
const stopping = "stopping"

// spread keeps the organisations of a configuration spread over the serve
// replicas that share its PostgreSQL store. Every replica tries every
// organisation's lease, but one that leads its share, ceil(organisations /
// live replicas), takes no more, and one that leads more gives one up at a
// time, so a replica that joins gets its share and one that dies leaves
// its organisations to the others within the lease TTL. Replicas count
// each other by the application_name of their connections, which
// PostgreSQL drops as soon as a process dies. A lease no replica under its
// share takes within a whole TTL (a replica counted but not working) is
// taken anyway, so no organisation stays without a leader.
type spread struct {
	orgs   int
	lead   *daemon.Leadership
	store  *pass.Store
	prefix string
	ttl    time.Duration
	log    *zap.Logger

	mu      sync.Mutex // held from a decision to its lease's change
	live    int
	counted time.Time
}

// share is how many organisations this replica may lead; s.mu is held.
func (s *spread) share(ctx context.Context) int {
	if time.Since(s.counted) >= s.ttl/3 || s.live < 1 {
		n, err := s.store.LiveReplicas(ctx, s.prefix)
		switch {
		case err != nil:
			s.log.Warn("lease: cannot count the replicas; keeping the last count", zap.Error(err))
		case n > 0:
			if n != s.live {
				s.log.Info("replicas sharing the state store", zap.Int("replicas", n), zap.Int("orgs", s.orgs))
			}
			s.live, s.counted = n, time.Now()
		}
	}
	live := max(s.live, 1)
	return (s.orgs + live - 1) / live
}

func (s *spread) leading() int {
	orgs, _ := s.lead.Leads()
	return len(orgs)
}

// mayTake reports whether l may try to take its lease: while this replica
// leads less than its share, or once the lease has stayed free a whole
// TTL; s.mu is held.
func (s *spread) mayTake(ctx context.Context, l *leader) bool {
	if s.leading() < s.share(ctx) {
		l.freeSince = time.Time{}
		return true
	}
	held, err := l.lease.Held(ctx)
	switch {
	case err != nil || held:
		l.freeSince = time.Time{}
		return false
	case l.freeSince.IsZero():
		l.freeSince = time.Now()
		return false
	}
	return time.Since(l.freeSince) >= s.ttl
}

// shed makes l give its lease up while this replica leads more than its
// share; under s.mu, so leaders renewing together give up only the excess.
func (s *spread) shed(ctx context.Context, l *leader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leading() > s.share(ctx) {
		l.stepDown("this replica leads more than its share of the organisations")
	}
}
