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

// defaultOrg names the organisation of a configuration with one.
const defaultOrg = "default"

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

func newLeader(store *pass.Store, org string, ttl time.Duration, log *zap.Logger, lead *daemon.Leadership, onGain func()) (*leader, error) {
	lease, err := pass.NewLease(store, org, replicaID(), ttl)
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
