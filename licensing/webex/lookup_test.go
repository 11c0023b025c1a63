package webex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/webextest"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// linksTo passes the fake's answers on with their next-page links
// pointing at another server.
type linksTo struct {
	http.ResponseWriter
	from, to string
}

func (w linksTo) WriteHeader(code int) {
	if l := w.Header().Get("Link"); l != "" {
		w.Header().Set("Link", strings.ReplaceAll(l, w.from, w.to))
	}
	w.ResponseWriter.WriteHeader(code)
}

// intercepted is a client of the fake whose requests intercept may answer
// first (it reports whether it did).
func (f *fake) intercepted(t *testing.T, intercept func(w http.ResponseWriter, r *http.Request) bool, opt Options) *Client {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			f.ServeHTTP(linksTo{w, f.HTTP.URL, srv.URL}, r)
		}
	}))
	t.Cleanup(srv.Close)
	opt.BaseURL, opt.Token, opt.Backoff, opt.Rate = srv.URL+"/v1", "tok-0", time.Millisecond, 10000
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// failing is a client of the fake whose people look-ups of an email fail
// gives a status for are answered with that status.
func (f *fake) failing(t *testing.T, fail func(email string) int, opt Options) *Client {
	return f.intercepted(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/people" {
			return false
		}
		status := fail(r.URL.Query().Get("email"))
		if status != 0 {
			webextest.WriteJSON(w, status, map[string]any{"message": http.StatusText(status), "trackingId": "NA_LOOKUP"})
		}
		return status != 0
	}, opt)
}

func only(email string, status int) func(string) int {
	return func(e string) int {
		if e == email {
			return status
		}
		return 0
	}
}

func TestAFailedLookUpFailsThatEmailAloneAfterItsRetries(t *testing.T) {
	f := newFake(t)
	f.Org(3, 3, 3)
	var attempts atomic.Int32
	c := f.failing(t, func(e string) int {
		if e == "user1@example.com" {
			attempts.Add(1)
			return http.StatusInternalServerError
		}
		return 0
	}, Options{MaxAttempts: 3, Concurrency: 1})
	people, err := c.People(context.Background(), []string{"user0@example.com", "User1@example.com", "user2@example.com"})
	var failed licensing.LookupErrors
	if !errors.As(err, &failed) || len(failed) != 1 {
		t.Fatalf("err = %v, want the one failed look-up", err)
	}
	if msg := failed["user1@example.com"].Error(); !strings.Contains(msg, "HTTP 500") || !strings.Contains(msg, "trackingId NA_LOOKUP") || !strings.Contains(msg, "gave up after 3 attempts") {
		t.Fatalf("the failure says %q, want the status, the tracking id and the attempts", msg)
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("the failing look-up was tried %d times, want 3", n)
	}
	if _, ok := people["user0@example.com"]; !ok || len(people) != 2 {
		t.Fatalf("people = %v, want user0 and user2", people)
	}
}

func TestARejectedTokenFailsTheWholeLookUp(t *testing.T) {
	f := newFake(t)
	f.Org(3, 3, 3)
	c := f.failing(t, only("user1@example.com", http.StatusUnauthorized), Options{})
	people, err := c.People(context.Background(), []string{"user0@example.com", "user1@example.com", "user2@example.com"})
	var failed licensing.LookupErrors
	if !errors.Is(err, ErrTokenRejected) || errors.As(err, &failed) || people != nil {
		t.Fatalf("people = %v, err = %v, want the token rejected for the whole look-up", people, err)
	}
}

func TestAPassThroughWebexFailsTheUserWhoseLookUpFailedAndGoesOn(t *testing.T) {
	tests := []struct {
		name string
		fail func(string) int
		// stopped is what the pass's error says; empty when it completes.
		stopped string
	}{
		{"a 500 on one look-up", only("user05@corp.example", http.StatusInternalServerError), ""},
		{"a 401 on one look-up", only("user05@corp.example", http.StatusUnauthorized), "token rejected"},
		{"every look-up failing", func(string) int { return http.StatusServiceUnavailable }, "20 look-ups in a row failed, the target looks down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.loadDemo(t)
			s := newSpine(t)
			// Each user looked up, not listed: the failures are the look-ups'.
			res, err := s.passOn(context.Background(), lookingUp{f.failing(t, tc.fail, Options{MaxAttempts: 2})}, pass.Apply, "RUN-1")
			patched := len(f.Calls("PATCH", "/licenses/users"))
			if tc.stopped != "" {
				if err == nil || !strings.Contains(err.Error(), tc.stopped) || patched != 0 {
					t.Fatalf("err = %v, %d PATCHes; want the pass stopped before any write: %s", err, patched, tc.stopped)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var u05 pass.Row
			_ = s.store.Rows(context.Background(), "", func(r pass.Row) error {
				if r.SourceID == "u05" {
					u05 = r
				}
				return nil
			})
			if u05.Outcome != string(licensing.Failed) || u05.Cause != string(licensing.CauseAPIError) ||
				!strings.Contains(u05.Detail, "looking up the Webex person failed") || !strings.Contains(u05.Detail, "HTTP 500") || !strings.Contains(u05.Detail, "trackingId NA_LOOKUP") {
				t.Fatalf("u05 = %+v, want API_ERROR with the status and tracking id", u05)
			}
			if n := res.Summary.Outcomes[string(licensing.Provisioned)]; n != 12 || patched != 12 {
				t.Fatalf("%d PROVISIONED with %d PATCHes, want the other 12", n, patched)
			}
		})
	}
}

func TestARunOfFailedLookUpsStopsTheRestOfTheLookUp(t *testing.T) {
	f := newFake(t)
	f.Org(60, 1, 1)
	var requests atomic.Int32
	c := f.failing(t, func(string) int { requests.Add(1); return http.StatusServiceUnavailable }, Options{MaxAttempts: 1, Concurrency: 2})
	emails := make([]string, 60)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%d@example.com", i)
	}
	_, err := c.People(context.Background(), emails)
	var failed licensing.LookupErrors
	if err == nil || errors.As(err, &failed) || !strings.Contains(err.Error(), "20 person look-ups in a row failed, the service looks down") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v, want the whole look-up failed as the service down", err)
	}
	if n := requests.Load(); n >= 60 {
		t.Fatalf("%d look-ups sent: the rest were not stopped", n)
	}
}
