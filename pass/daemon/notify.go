package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// The webhook's delivery bounds: a pass spends at most about
// noticeAttempts × noticeTimeout on a webhook that does not answer, and
// sends at most noticesPerPass notices, so neither a dead endpoint nor a
// wave of users crossing the age at once holds the service up.
const (
	noticeTimeout  = 10 * time.Second
	noticeAttempts = 3
	noticeBackoff  = time.Second
	noticesPerPass = 200
)

// Notice is the JSON body of one webhook call: a user who has been failing
// for longer than the configured age.
type Notice struct {
	// Org is the Webex organisation id the configuration names, or the
	// target kind when it names none.
	Org          string    `json:"org"`
	UserID       string    `json:"user_id"`
	Email        string    `json:"email"`
	DisplayName  string    `json:"display_name"`
	Cause        string    `json:"cause"`
	Detail       string    `json:"detail"`
	FailingSince time.Time `json:"failing_since"`
	Fix          string    `json:"fix"`
}

// Notifier posts a Notice for each user failing longer than After, once per
// failure: the state store remembers which user and cause, from when it
// began, a notice has told of. A failure with another cause, or one that
// begins again after the user was licensed, is told of anew.
type Notifier struct {
	// URL receives the notices. It may carry a token, so it is never logged:
	// logs name its host only.
	URL   string
	After time.Duration
	Org   string
	Log   *zap.Logger
	// Client defaults to one with a 10s timeout per attempt.
	Client *http.Client
	// Now defaults to the wall clock.
	Now func() time.Time
	// Backoff is the wait before the second attempt, doubled for the next
	// (default 1s).
	Backoff time.Duration
}

// Notify sends the notices due and records each one the webhook took. A
// delivery that fails after its retries is logged and left, with every
// notice after it, for the next pass: it never fails the pass. It returns
// how many notices were delivered.
func (n *Notifier) Notify(ctx context.Context, store *pass.Store) int {
	log := n.Log
	if log == nil {
		log = zap.NewNop()
	}
	now := time.Now
	if n.Now != nil {
		now = n.Now
	}
	host := hostOf(n.URL)
	due, err := store.DueNotices(ctx, now().Add(-n.After), noticesPerPass)
	if err != nil {
		log.Warn("webhook: the failures due a notice could not be read; the next pass tries again", zap.Error(err))
		return 0
	}
	sent := 0
	for i := range due {
		f := &due[i]
		body, err := json.Marshal(Notice{
			Org: n.Org, UserID: f.SourceID, Email: f.Email, DisplayName: f.DisplayName,
			Cause: f.Cause, Detail: f.Detail, FailingSince: f.FailingSince.UTC(), Fix: licensing.Cause(f.Cause).Fix(),
		})
		if err != nil {
			log.Warn("webhook: notice not encoded", zap.String("user", f.SourceID), zap.Error(err))
			continue
		}
		if err := n.deliver(ctx, body); err != nil {
			log.Warn("webhook: notice not delivered; it and the rest are sent again after the next pass",
				zap.String("webhook_host", host), zap.String("user", f.SourceID), zap.String("cause", f.Cause),
				zap.Int("left", len(due)-i), zap.Error(err))
			return sent
		}
		if err := store.Notified(ctx, f.SourceID, licensing.Cause(f.Cause), f.FailingSince); err != nil {
			log.Warn("webhook: notice delivered but not recorded; it may be sent again", zap.String("user", f.SourceID), zap.Error(err))
			return sent
		}
		sent++
		log.Info("webhook: failure notified", zap.String("webhook_host", host), zap.String("user", f.SourceID),
			zap.String("cause", f.Cause), zap.Time("failing_since", f.FailingSince))
	}
	return sent
}

// deliver posts body, retrying a network failure, a 429 and a 5xx.
func (n *Notifier) deliver(ctx context.Context, body []byte) error {
	client := n.Client
	if client == nil {
		// A redirect is an answer, not followed: the token stays with the
		// host it was written for.
		client = &http.Client{Timeout: noticeTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	wait := n.Backoff
	if wait <= 0 {
		wait = noticeBackoff
	}
	var last error
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, client, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || attempt == noticeAttempts {
			return fmt.Errorf("attempt %d of %d: %w", attempt, noticeAttempts, last)
		}
		if err := licensing.Sleep(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// post sends one attempt and says whether a failure is worth another.
func (n *Notifier) post(ctx context.Context, client *http.Client, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the webhook URL cannot be used")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "licensync")
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL, token included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	licensing.Answered(ctx)
	if resp.StatusCode < 300 {
		return false, nil
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, fmt.Errorf("the webhook answered %s", resp.Status)
}

// hostOf is the part of the webhook URL that may be logged.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
