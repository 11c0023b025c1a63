package okta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/licensync/licensync/licensing"
)

// clock is the time the transport paces and waits by; tests replace it.
type clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

const (
	// errorRetries is how many times a 5xx answer or a network failure is
	// retried, with backoff from errorBackoff.
	errorRetries = 3
	errorBackoff = time.Second
	// throttleRetries is how many 429 answers in a row are waited out.
	throttleRetries = 5
	// maxWait caps one wait for a rate limit window to reset; Okta's
	// windows are a minute long.
	maxWait = 2 * time.Minute
)

// Stats counts what the source sent, over all passes.
type Stats struct {
	// Requests is every attempt sent, Retries those repeated after a 429,
	// a 5xx or a network failure, Throttled the 429 answers.
	Requests, Retries, Throttled int64
	// Paced is how many requests waited because the rate limit was running
	// low, PacedFor the time they waited in all.
	Paced    int64
	PacedFor time.Duration
	// Pages is the number of pages of users, groups and members read,
	// Users the number of users emitted.
	Pages, Users int64
}

// transport sends the SDK's requests: it times out every attempt, paces
// requests from Okta's X-Rate-Limit-* headers so that the organisation's
// limit is not reached, waits until the window resets on a 429, and retries
// server errors. It never logs headers, so the token stays out of logs.
type transport struct {
	base    http.RoundTripper
	clock   clock
	timeout time.Duration
	log     *zap.Logger

	mu      sync.Mutex
	buckets map[string]*rate.Limiter

	requests, retries, throttled, paced, pacedFor atomic.Int64
}

func newTransport(base http.RoundTripper, clk clock, timeout time.Duration, log *zap.Logger) *transport {
	return &transport{base: base, clock: clk, timeout: timeout, log: log, buckets: map[string]*rate.Limiter{}}
}

func (t *transport) stats() Stats {
	return Stats{Requests: t.requests.Load(), Retries: t.retries.Load(), Throttled: t.throttled.Load(),
		Paced: t.paced.Load(), PacedFor: time.Duration(t.pacedFor.Load())}
}

var idSegment = regexp.MustCompile(`/api/v1/(users|groups)/[^/]+`)

// bucketOf names the rate limit an endpoint counts against: Okta limits
// each endpoint family separately, and ids do not make a new family.
func bucketOf(path string) string {
	return idSegment.ReplaceAllString(path, "/api/v1/$1/{id}")
}

func (t *transport) limiter(bucket string) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.buckets[bucket]
	if !ok {
		l = rate.NewLimiter(rate.Inf, 1)
		t.buckets[bucket] = l
	}
	return l
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	lim := t.limiter(bucketOf(req.URL.Path))
	throttles, failures := 0, 0
	for {
		if err := t.pace(ctx, lim, req.URL.Path); err != nil {
			return nil, err
		}
		resp, err := t.attempt(req)
		t.requests.Add(1)
		if err == nil {
			licensing.Answered(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if failures == errorRetries || !canRetry(req) {
				return nil, &reachError{path: req.URL.Path, msg: err.Error()}
			}
			if err := t.backoff(ctx, req, failures, "request failed", zap.String("error", err.Error())); err != nil {
				return nil, err
			}
			failures++
			continue
		}
		wait, hasLimits := t.observe(lim, resp)
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			t.throttled.Add(1)
			if throttles == throttleRetries || !canRetry(req) {
				drain(resp)
				return nil, &throttledError{path: req.URL.Path}
			}
			drain(resp)
			if !hasLimits {
				wait = errorBackoff << throttles
			}
			t.log.Warn("okta rate limit reached, waiting for the window to reset",
				zap.String("path", req.URL.Path), zap.Duration("wait", wait))
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
			throttles++
			t.retries.Add(1)
			if err := rewind(req); err != nil {
				return nil, err
			}
			continue
		case resp.StatusCode >= 500 && failures < errorRetries && canRetry(req):
			drain(resp)
			if err := t.backoff(ctx, req, failures, "server error", zap.Int("status", resp.StatusCode)); err != nil {
				return nil, err
			}
			failures++
			continue
		}
		return resp, nil
	}
}

// attempt sends req once, bounded by the timeout until its body is closed.
func (t *transport) attempt(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && req.Context().Err() == nil {
			return nil, fmt.Errorf("no answer within %s (source.okta.timeout)", t.timeout)
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (t *transport) backoff(ctx context.Context, req *http.Request, n int, what string, field zap.Field) error {
	wait := errorBackoff<<n + time.Duration(rand.Int64N(int64(errorBackoff/2)))
	t.log.Warn("okta "+what+", retrying", zap.String("path", req.URL.Path), field, zap.Duration("wait", wait), zap.Int("attempt", n+1))
	t.retries.Add(1)
	if err := t.sleep(ctx, wait); err != nil {
		return err
	}
	return rewind(req)
}

// sleep waits d on the transport's clock, telling the pass's watchdog that
// the wait is work, not a hang.
func (t *transport) sleep(ctx context.Context, d time.Duration) error {
	licensing.Waiting(ctx, d)
	return t.clock.Sleep(ctx, d)
}

// pace waits for the bucket's limiter.
func (t *transport) pace(ctx context.Context, lim *rate.Limiter, path string) error {
	now := t.clock.Now()
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	t.paced.Add(1)
	t.pacedFor.Add(int64(d))
	t.log.Debug("okta rate limit running low, pacing", zap.String("path", path), zap.Duration("wait", d))
	if err := t.sleep(ctx, d); err != nil {
		r.CancelAt(t.clock.Now())
		return err
	}
	return nil
}

// observe adjusts the bucket's limiter from a response's rate limit
// headers and returns the time until the window resets, measured on the
// server's clock (Date) so that local clock skew does not matter.
//
// With half the window's budget or more left, requests go at full speed.
// Below that, the rest is spread evenly over the time left, keeping a tenth
// of the limit for the organisation's other API clients; at that reserve,
// requests wait for the window to reset.
func (t *transport) observe(lim *rate.Limiter, resp *http.Response) (time.Duration, bool) {
	h := resp.Header
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 {
		return 0, false
	}
	now := t.clock.Now()
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		date = now
	}
	wait := time.Unix(reset, 0).Sub(date) + time.Second
	wait = min(max(wait, time.Second), maxWait)
	if resp.StatusCode == http.StatusTooManyRequests {
		remaining = 0
	}
	reserve := max(1, limit/10)
	switch {
	case remaining <= reserve:
		lim.SetLimitAt(now, rate.Every(wait))
		lim.SetBurstAt(now, 1)
		lim.AllowN(now, 1)
	case remaining < limit/2:
		lim.SetLimitAt(now, rate.Limit(float64(remaining-reserve)/wait.Seconds()))
		lim.SetBurstAt(now, 1)
	default:
		lim.SetLimitAt(now, rate.Inf)
	}
	return wait, true
}

// canRetry reports whether req can be sent again: it has no body, or one
// that can be produced again.
func canRetry(req *http.Request) bool { return req.Body == nil || req.GetBody != nil }

func rewind(req *http.Request) error {
	if req.Body == nil || req.GetBody == nil {
		return nil
	}
	b, err := req.GetBody()
	if err != nil {
		return err
	}
	req.Body = b
	return nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// reachError is a request that got no answer. It keeps only the message
// of what failed: the SDK retries forever on errors that wrap io.EOF, which
// a dropped connection does.
type reachError struct{ path, msg string }

func (e *reachError) Error() string { return e.path + ": " + e.msg }

// cancelBody releases an attempt's timeout when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
