package okta

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

func TestRequestsSlowDownBeforeTheRateLimitIsReached(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	f.limit = 20
	populate(f, 100)
	s := openFake(t, f, Options{}, func(c *config.OktaSource) { c.PageSize = 1 })
	start := clk.Now()
	got, _, _ := read(t, s, "")
	if len(got) != 100 {
		t.Fatalf("%d users, want 100", len(got))
	}
	if n := f.Throttled(); n != 0 {
		t.Errorf("the fake answered 429 %d times: the source did not slow down before the limit", n)
	}
	st := s.Stats()
	if st.Throttled != 0 || st.Paced == 0 {
		t.Fatalf("stats = %+v, want paced requests and no 429", st)
	}
	// 100 requests at 20 a minute, with a tenth kept for other clients:
	// at least five windows.
	if elapsed := clk.Now().Sub(start); elapsed < 5*time.Minute {
		t.Errorf("the pass took %s of the fake clock, want at least 5 windows of a minute", elapsed)
	}
	if st.PacedFor != sum(clk.Slept()) {
		t.Errorf("paced for %s, but the clock slept %s", st.PacedFor, sum(clk.Slept()))
	}
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func TestFullSpeedWhileHalfTheBudgetIsLeft(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	f.limit = 600
	populate(f, 50)
	s := openFake(t, f, Options{}, func(c *config.OktaSource) { c.PageSize = 1 })
	read(t, s, "")
	if st := s.Stats(); st.Paced != 0 || len(clk.Slept()) != 0 {
		t.Errorf("stats = %+v, sleeps %v: paced with most of the budget left", st, clk.Slept())
	}
}

func TestA429WaitsUntilTheWindowResets(t *testing.T) {
	clk := newFakeClock()
	clk.Advance(20 * time.Second) // 40 s left in the fake's window
	f := newFakeOkta(t, clk, testToken)
	populate(f, 3)
	// Another client has used up the groups budget.
	f.win[bucketOf("/api/v1/groups")] = clk.Now().Truncate(time.Minute)
	f.used[bucketOf("/api/v1/groups")] = f.limit
	s := openFake(t, f, Options{}, nil)
	got, _, _ := read(t, s, "")
	if len(got) != 3 {
		t.Fatalf("%d users after the wait, want 3", len(got))
	}
	st := s.Stats()
	if st.Throttled != 1 || st.Retries != 1 {
		t.Errorf("stats = %+v, want one 429 and one retry", st)
	}
	// The wait runs to the window's reset by the server's clock, plus a
	// second for rounding.
	if sl := clk.Slept(); len(sl) != 1 || sl[0] != 41*time.Second {
		t.Errorf("slept %v, want one wait of 41s", sl)
	}
}

func TestAnOrganisationThatStaysThrottledGivesUp(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	populate(f, 3)
	f.setFail(100, 429)
	s := openFake(t, f, Options{}, nil)
	_, _, err := s.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "still rate limited") {
		t.Fatalf("err = %v", err)
	}
	if st := s.Stats(); st.Throttled != throttleRetries+1 || st.Retries != throttleRetries {
		t.Errorf("stats = %+v, want %d 429s and %d retries", st, throttleRetries+1, throttleRetries)
	}
}

func TestBucketsAreEndpointFamilies(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/api/v1/users", "/api/v1/users"},
		{"/api/v1/groups", "/api/v1/groups"},
		{"/api/v1/groups/00g1/users", "/api/v1/groups/{id}/users"},
		{"/api/v1/groups/00g2/users", "/api/v1/groups/{id}/users"},
		{"/api/v1/users/00u1/groups", "/api/v1/users/{id}/groups"},
	}
	for _, tt := range tests {
		if got := bucketOf(tt.path); got != tt.want {
			t.Errorf("bucketOf(%s) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestAWaitForTheWindowTellsThePassWatchdogHowLongItWaits(t *testing.T) {
	clk := newFakeClock()
	clk.Advance(20 * time.Second)
	f := newFakeOkta(t, clk, testToken)
	populate(f, 3)
	f.win[bucketOf("/api/v1/groups")] = clk.Now().Truncate(time.Minute)
	f.used[bucketOf("/api/v1/groups")] = f.limit
	s := openFake(t, f, Options{}, nil)
	var live licensing.Liveness
	before := time.Now()
	_, _, err := s.Users(licensing.WithLiveness(context.Background(), &live), "", func(licensing.DirectoryUser) error { return nil })
	must(t, err)
	if got, want := live.Answers(), s.Stats().Requests; got != want || got == 0 {
		t.Errorf("%d answers told, want every one of the %d requests", got, want)
	}
	if until := live.WaitingUntil(); until.Before(before.Add(41*time.Second)) || until.After(time.Now().Add(41*time.Second)) {
		t.Errorf("waiting until %s from the start, want the 41s wait for the window", until.Sub(before))
	}
}
