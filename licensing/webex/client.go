package webex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/licensync/licensync/licensing"
)

// Options configure a Client. Zero values take the documented defaults.
type Options struct {
	// BaseURL defaults to https://webexapis.com/v1.
	BaseURL string
	Token   string
	// RefreshToken, ClientID and ClientSecret, when all set, let the client
	// get a new access token from BaseURL/access_token.
	RefreshToken string
	ClientID     string
	ClientSecret string
	// OrgID is sent as orgId when set.
	OrgID string
	// Rate is requests per second (default 10); Concurrency the requests in
	// flight (default 4); Timeout bounds one attempt (default 30s).
	Rate        float64
	Concurrency int
	Timeout     time.Duration
	// MaxAttempts bounds the tries of one request (default 6).
	MaxAttempts int
	// Backoff is the first retry delay, doubled per attempt (default 500ms).
	Backoff time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 60s).
	MaxRetryAfter time.Duration
	// HTTPClient defaults to a client with its own transport.
	HTTPClient *http.Client
	Logger     *zap.Logger
}

// Stats counts what a Client sent, for benchmarks and the run log.
type Stats struct {
	// Requests is every attempt sent, Throttled those answered 429 or 423.
	Requests  int64
	Throttled int64
	Retries   int64
}

// ErrTokenRejected is wrapped by the pass-level error Apply returns when the
// service refuses the token.
var ErrTokenRejected = errors.New("webex: token rejected (target.webex.token)")

// Client is a licensync target backed by the Webex API. It is safe for
// concurrent use.
type Client struct {
	opt  Options
	base *url.URL
	hc   *http.Client
	log  *zap.Logger
	lim  *rate.Limiter
	sem  chan struct{}
	auth *tokenSource

	mu       sync.Mutex
	licences map[string]licensing.Licence
	// roster is how the current pass finds people, from its snapshot.
	roster *roster

	requests, throttled, retries atomic.Int64
	// lastCut is when the rate was last cut, in Unix nanoseconds.
	lastCut atomic.Int64
	// ceiling is the rate the service last throttled at (float64 bits),
	// 0 before any throttling.
	ceiling atomic.Uint64
}

// New returns a client for the organisation opt names. It sends nothing.
func New(opt Options) (*Client, error) {
	if opt.BaseURL == "" {
		opt.BaseURL = "https://webexapis.com/v1"
	}
	if opt.Rate <= 0 {
		opt.Rate = 10
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 6
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	if opt.MaxRetryAfter <= 0 {
		opt.MaxRetryAfter = 60 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	base, err := url.Parse(strings.TrimRight(opt.BaseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("webex: base URL %q is not a URL", opt.BaseURL)
	}
	if opt.Token == "" && opt.RefreshToken == "" {
		return nil, errors.New("webex: no token (target.webex.token)")
	}
	hc := opt.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opt.Concurrency
		hc = &http.Client{Transport: tr}
	}
	burst := max(1, opt.Concurrency)
	c := &Client{
		opt:  opt,
		base: base,
		hc:   hc,
		log:  opt.Logger,
		lim:  rate.NewLimiter(rate.Limit(opt.Rate), burst),
		sem:  make(chan struct{}, opt.Concurrency),
	}
	c.auth = &tokenSource{c: c, access: opt.Token, refresh: opt.RefreshToken}
	return c, nil
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Throttled: c.throttled.Load(), Retries: c.retries.Load()}
}

// Traffic returns the request counts so far, for the service's metrics.
func (c *Client) Traffic() licensing.Traffic {
	return licensing.Traffic{Requests: c.requests.Load(), Retries: c.retries.Load(), Throttled: c.throttled.Load()}
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// url builds an absolute URL from a path below the base and a query; orgId
// is added when configured.
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if q == nil {
		q = url.Values{}
	}
	if c.opt.OrgID != "" {
		q.Set("orgId", c.opt.OrgID)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// response is one answer from the service, body read.
type response struct {
	Status     int
	Header     http.Header
	Body       []byte
	TrackingID string
}

// apiError is the documented error body.
type apiError struct {
	Message string `json:"message"`
	Errors  []struct {
		ErrorCode   int    `json:"errorCode"`
		Description string `json:"description"`
	} `json:"errors"`
	TrackingID string `json:"trackingId"`
}

func (r *response) apiError() apiError {
	var e apiError
	_ = json.Unmarshal(r.Body, &e)
	if e.TrackingID == "" {
		e.TrackingID = r.TrackingID
	}
	return e
}

// summary describes the service's answer in one line, without the request.
func (r *response) summary() string {
	e := r.apiError()
	parts := []string{}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	for _, x := range e.Errors {
		parts = append(parts, fmt.Sprintf("error %d: %s", x.ErrorCode, x.Description))
	}
	if len(parts) == 0 {
		parts = append(parts, http.StatusText(r.Status))
	}
	s := fmt.Sprintf("HTTP %d: %s", r.Status, strings.Join(parts, "; "))
	if e.TrackingID != "" {
		s += " (trackingId " + e.TrackingID + ")"
	}
	return s
}

// statusError is a final non-2xx answer.
type statusError struct {
	op  string
	res *response
}

func (e *statusError) Error() string { return "webex: " + e.op + ": " + e.res.summary() }

// sendError is a transport failure of one attempt. Sent reports whether the
// request was written, so the service may have acted on it.
type sendError struct {
	op   string
	Sent bool
	err  error
}

func (e *sendError) Error() string { return "webex: " + e.op + ": " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// send makes one attempt: it waits for the rate limiter and a concurrency
// slot, and answers a 401 by refreshing the token once and resending (a 401
// means the request was not acted on). Only ctx errors, transport failures
// (*sendError) and ErrTokenRejected come back as errors; any status is a
// response.
func (c *Client) send(ctx context.Context, op, method, u string, body []byte) (*response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	refreshed := false
	for {
		if err := c.lim.Wait(ctx); err != nil {
			return nil, fmt.Errorf("webex: %s: %w", op, err)
		}
		tok, err := c.auth.token(ctx)
		if err != nil {
			return nil, err
		}
		res, err := c.attempt(ctx, op, method, u, body, tok)
		if err != nil {
			return nil, err
		}
		if res.Status != http.StatusUnauthorized {
			return res, nil
		}
		if refreshed || !c.auth.canRefresh() {
			return nil, fmt.Errorf("%w: %s", ErrTokenRejected, res.summary())
		}
		refreshed = true
		if err := c.auth.renew(ctx, tok); err != nil {
			return nil, err
		}
	}
}

func (c *Client) attempt(ctx context.Context, op, method, u string, body []byte, tok string) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("webex: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("webex: %s: %w", op, ctx.Err())
		}
		return nil, &sendError{op: op, Sent: wrote.Load(), err: scrub(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("webex: %s: %w", op, ctx.Err())
		}
		return nil, &sendError{op: op, Sent: true, err: fmt.Errorf("reading the answer: %w", scrub(err))}
	}
	res := &response{Status: resp.StatusCode, Header: resp.Header, Body: b, TrackingID: resp.Header.Get("Trackingid")}
	c.adapt(res.Status)
	licensing.Answered(ctx)
	return res, nil
}

// scrub drops the URL from a *url.Error: the query can hold emails, and
// the operation already says what was sent.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// How the rate adapts to throttling: the first throttled answer halves the
// rate (the configured rate may be far above the service's limit); later
// ones cut it by cutFactor, at most once per cutEvery (the answers to requests already in
// flight, a few milliseconds' worth, say nothing new); answered requests
// grow it back by a twentieth of the configured rate per second up to near
// the rate last throttled at, and by a two-hundredth beyond. The sawtooth
// then stays within a few percent of the service's limit, and a limit that
// rises is still found.
const (
	cutEvery     = 100 * time.Millisecond
	cutFactor    = 0.85
	nearCeiling  = 0.95
	fastGrowth   = 1.0 / 20
	gentleGrowth = 1.0 / 200
)

// adapt moves the rate after an answer with status.
func (c *Client) adapt(status int) {
	full := rate.Limit(c.opt.Rate)
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusLocked:
		c.throttled.Add(1)
		now := time.Now().UnixNano()
		last := c.lastCut.Load()
		if now-last >= int64(cutEvery) && c.lastCut.CompareAndSwap(last, now) {
			cur := c.lim.Limit()
			factor := rate.Limit(cutFactor)
			if c.ceiling.Swap(math.Float64bits(float64(cur))) == 0 {
				factor = 0.5
			}
			c.lim.SetLimit(max(cur*factor, min(full, 0.5)))
		}
	case status < 500:
		if l := c.lim.Limit(); l < full {
			growth := fastGrowth
			if ceil := rate.Limit(math.Float64frombits(c.ceiling.Load())); ceil > 0 && l >= nearCeiling*ceil {
				growth = gentleGrowth
			}
			c.lim.SetLimit(min(full, l+full*rate.Limit(growth)/l))
		}
	}
}

// retryAfter is the wait a throttled answer asks for, capped.
func (c *Client) retryAfter(res *response, attempt int) time.Duration {
	v := res.Header.Get("Retry-After")
	d := time.Duration(-1)
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(0, time.Until(t))
	}
	if d < 0 {
		return c.backoff(attempt)
	}
	return min(d, c.opt.MaxRetryAfter)
}

// wait is the delay before retrying after res: what Retry-After asks for
// when the service sent it (429, 423, often 503), backoff otherwise.
func (c *Client) wait(res *response, attempt int) time.Duration {
	if res != nil && res.Header.Get("Retry-After") != "" {
		return c.retryAfter(res, attempt)
	}
	return c.backoff(attempt)
}

// backoff is the jittered exponential delay before retry attempt n (n >= 1):
// a random point in the upper half of Backoff·2^(n-1), capped at 30s.
func (c *Client) backoff(n int) time.Duration {
	d := c.opt.Backoff << min(n-1, 16)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

// transient reports whether a status is worth another attempt.
func transient(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusLocked || status >= 500
}

// get sends a read, retrying throttling, 5xx and transport failures; reads
// are safe to repeat. A final non-2xx answer is a *statusError.
func (c *Client) get(ctx context.Context, op, u string) (*response, error) {
	var last error
	for n := 1; ; n++ {
		res, err := c.send(ctx, op, http.MethodGet, u, nil)
		var se *sendError
		switch {
		case err == nil && res.Status < 300:
			return res, nil
		case err == nil && !transient(res.Status):
			return nil, &statusError{op: op, res: res}
		case err != nil && !errors.As(err, &se):
			return nil, err
		}
		wait := c.backoff(n)
		if err == nil {
			last = &statusError{op: op, res: res}
			wait = c.wait(res, n)
		} else {
			last = err
		}
		if n >= c.opt.MaxAttempts {
			return nil, fmt.Errorf("%w (gave up after %d attempts)", last, n)
		}
		c.retries.Add(1)
		c.log.Debug("webex: retrying", zap.String("op", op), zap.Int("attempt", n), zap.Duration("wait", wait), zap.String("why", last.Error()))
		if err := licensing.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("webex: %s: %w", op, err)
		}
	}
}

// getJSON reads u into out.
func (c *Client) getJSON(ctx context.Context, op, u string, out any) (*response, error) {
	res, err := c.get(ctx, op, u)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		return nil, fmt.Errorf("webex: %s: unexpected answer: %w", op, err)
	}
	return res, nil
}
