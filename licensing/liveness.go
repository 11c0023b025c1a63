package licensing

import (
	"context"
	"sync/atomic"
	"time"
)

// Liveness is what a pass's source and target tell whoever watches the pass
// about work that moves no user yet: an answer received (a snapshot page, a
// look-up) and a wait that is part of the work (a Retry-After, a rate limit
// window). A watchdog reads it to tell a pass that works or waits from one
// that hangs. The zero value is ready to use; its methods are safe for
// concurrent use.
type Liveness struct {
	answers   atomic.Int64
	waitUntil atomic.Int64 // Unix nanoseconds
}

// Answers is how many answers the source and the target have received.
func (l *Liveness) Answers() int64 { return l.answers.Load() }

// WaitingUntil is the end of the longest wait announced so far (zero when
// none was).
func (l *Liveness) WaitingUntil() time.Time {
	if ns := l.waitUntil.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

type livenessKey struct{}

// WithLiveness returns a context whose answers and waits (Answered,
// Waiting, Sleep) are told to l.
func WithLiveness(ctx context.Context, l *Liveness) context.Context {
	return context.WithValue(ctx, livenessKey{}, l)
}

func livenessOf(ctx context.Context) *Liveness {
	l, _ := ctx.Value(livenessKey{}).(*Liveness)
	return l
}

// Answered tells ctx's Liveness, if any, that an answer arrived.
func Answered(ctx context.Context) {
	if l := livenessOf(ctx); l != nil {
		l.answers.Add(1)
	}
}

// Waiting tells ctx's Liveness, if any, that a wait of d starts now.
func Waiting(ctx context.Context, d time.Duration) {
	l := livenessOf(ctx)
	if l == nil || d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := l.waitUntil.Load()
		if cur >= until || l.waitUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// Sleep waits for d or until ctx is done, telling ctx's Liveness about the
// wait first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	Waiting(ctx, d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Traffic is what a source or a target counts of its requests, for the
// service's metrics: a pass that failed on 429s is the one whose traffic
// matters.
type Traffic struct {
	// Requests is every attempt sent, retries included; Retries is those
	// that repeated a refused or failed one; Throttled is the answers that
	// asked to slow down.
	Requests, Retries, Throttled int64
}
