package webex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// refreshAhead is how long before expiry the token is refreshed.
const refreshAhead = 5 * time.Minute

// tokenSource holds the access token and renews it with the refresh token.
type tokenSource struct {
	c *Client

	mu      sync.Mutex
	access  string
	refresh string
	// expiry is zero while unknown (a configured token): it is then only
	// renewed when rejected.
	expiry time.Time
	// refreshExpiry is when the refresh token expires, zero while unknown.
	refreshExpiry time.Time
}

func (t *tokenSource) canRefresh() bool {
	o := t.c.opt
	return t.refresh != "" && o.ClientID != "" && o.ClientSecret != ""
}

// token returns the token to send, refreshing it first when there is none
// yet or it is about to expire.
func (t *tokenSource) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	due := t.access == "" || (!t.expiry.IsZero() && time.Until(t.expiry) < refreshAhead)
	if due && t.canRefresh() {
		if err := t.renewLocked(ctx); err != nil {
			return "", err
		}
	}
	if t.access == "" {
		return "", fmt.Errorf("%w: no access token and no way to get one", ErrTokenRejected)
	}
	return t.access, nil
}

// renew refreshes the token after stale was rejected, unless another
// request already replaced it.
func (t *tokenSource) renew(ctx context.Context, stale string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.access != stale {
		return nil
	}
	return t.renewLocked(ctx)
}

func (t *tokenSource) renewLocked(ctx context.Context) error {
	o := t.c.opt
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {o.ClientID},
		"client_secret": {o.ClientSecret},
		"refresh_token": {t.refresh},
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	u := *t.c.base
	u.Path += "/access_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("webex: token refresh: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	t.c.requests.Add(1)
	resp, err := t.c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: refreshing it failed (target.webex.refresh_token): %v", ErrTokenRejected, scrub(err))
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		// RefreshExpiresIn is the refresh token's remaining life.
		RefreshExpiresIn int64 `json:"refresh_token_expires_in"`
	}
	if resp.StatusCode != http.StatusOK {
		res := &response{Status: resp.StatusCode, TrackingID: resp.Header.Get("Trackingid")}
		return fmt.Errorf("%w: refreshing it was refused (target.webex.refresh_token): %s", ErrTokenRejected, res.summary())
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		return fmt.Errorf("%w: the token refresh answer has no access_token (target.webex.refresh_token)", ErrTokenRejected)
	}
	t.access = body.AccessToken
	if body.RefreshToken != "" {
		t.refresh = body.RefreshToken
	}
	t.expiry = time.Time{}
	if body.ExpiresIn > 0 {
		t.expiry = time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)
	}
	if body.RefreshExpiresIn > 0 {
		t.refreshExpiry = time.Now().Add(time.Duration(body.RefreshExpiresIn) * time.Second)
	}
	t.c.log.Info("webex: access token refreshed")
	return nil
}
