package webex

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

func TestSnapshotReadsEveryPage(t *testing.T) {
	f := newFake(t)
	f.Org(0, 4500, 10)
	f.Numbers[7].OwnerID, f.Numbers[7].OwnerType = "PLACE9", "PLACE"
	f.Licences[0].Consumed = 3
	c := f.client(t, Options{})

	org, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if org.Numbers.Len() != 4500 {
		t.Errorf("numbers = %d, want 4500", org.Numbers.Len())
	}
	if n, _ := org.Numbers.Get(num(7)); n.OwnerType != licensing.OwnerPlace || n.OwnerID != "PLACE9" || n.LocationID != "L1" || n.Extension != "1007" {
		t.Errorf("owned number = %+v", n)
	}
	if n, _ := org.Numbers.Get(num(4499)); n.OwnerID != "" || n.State != "ACTIVE" {
		t.Errorf("last number = %+v, want free and active", n)
	}
	if len(org.Locations) != 2 || !org.Locations["L2"].CallingEnabled || org.Locations["L2"].Name != "Paris" {
		t.Errorf("locations = %+v, want both, read through the cursor links", org.Locations)
	}
	if l := org.Licences["CALL"]; !l.IsCalling() || l.Free() != 7 || l.SubscriptionID != "S1" {
		t.Errorf("calling licence = %+v", l)
	}
	var starts []string
	for _, e := range f.Calls("GET", "/telephony/config/numbers") {
		starts = append(starts, e.Query)
	}
	want := []string{"max=2000&start=0", "max=2000&start=2000", "max=2000&start=4000"}
	if strings.Join(starts, " ") != strings.Join(want, " ") {
		t.Errorf("number pages = %v, want %v", starts, want)
	}
}

func TestPagingRefusesToSendTheTokenToAnotherHost(t *testing.T) {
	f := newFake(t)
	f.Org(0, 0, 1)
	f.ForeignNext = "http://other.example"
	c := f.client(t, Options{})
	_, err := c.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another host (other.example)") {
		t.Fatalf("err = %v, want a refusal to follow the link", err)
	}
	if n := len(f.Calls("GET", "/telephony/config/locations")); n != 1 {
		t.Errorf("locations read %d times, want only the first page", n)
	}
}

func TestPeopleAreKeyedByLowerCaseEmailAndAbsentWhenUnknown(t *testing.T) {
	f := newFake(t)
	f.Org(3, 5, 5)
	f.People["P1"].Licences = []string{"CALL"}
	f.People["P1"].Phone, f.People["P1"].Location = num(1), "L1"
	c := f.client(t, Options{})

	got, err := c.People(context.Background(), []string{"User1@Example.com", "user2@example.com", "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("people = %v, want user1 and user2 only", got)
	}
	p := got["user1@example.com"]
	if p.ID != "P1" || p.PhoneNumber != num(1) || p.LocationID != "L1" || len(p.Licences) != 1 {
		t.Errorf("user1 = %+v", p)
	}
	if _, ok := got["nobody@example.com"]; ok {
		t.Error("an unknown email has a person")
	}
	for _, e := range f.Calls("GET", "/people") {
		if !strings.Contains(e.Query, "callingData=true") {
			t.Errorf("people lookup without Calling data: %s", e.Query)
		}
	}
}

func change(i int, lics ...string) licensing.Change {
	return licensing.Change{PersonID: fmt.Sprintf("P%d", i), Email: fmt.Sprintf("user%d@example.com", i),
		Licences: lics, LocationID: "L1", PhoneNumber: num(i), Extension: fmt.Sprint(1000 + i)}
}

// realNames adds licences named as real organisations name them.
func realNames(f *fake) {
	f.Licences = append(f.Licences,
		&fakeLicence{ID: "BASIC", Name: "Webex Calling - Basic", Sub: "S1", Total: 5},
		&fakeLicence{ID: "CC-STD", Name: "Contact center Standard Agent", Sub: "S1", Total: 5},
		&fakeLicence{ID: "CC-PRM", Name: "Contact Center Premium Agent", Sub: "S1", Total: 5, Consumed: 1})
}

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fake)
		opt   Options
		ch    licensing.Change
		// cause is the wanted refusal; "" means applied.
		cause   licensing.Cause
		patches int
		check   func(t *testing.T, f *fake, err error)
	}{
		{name: "a free number and a free unit are applied in one PATCH with Calling properties on the Calling licence only",
			ch: change(1, "CALL", "MEET"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 || f.Licence("MEET").Consumed != 1 {
					t.Errorf("consumed units = %d, %d; want 1, 1", f.Licence("CALL").Consumed, f.Licence("MEET").Consumed)
				}
				if n := f.Number(num(1)); n.OwnerID != "P1" || n.OwnerType != "PEOPLE" {
					t.Errorf("number owner = %+v", n)
				}
				body := f.Calls("PATCH", "/licenses/users")[0].Body
				if strings.Count(body, `"properties"`) != 1 || !strings.Contains(body, `"phoneNumber":"+15550000001"`) {
					t.Errorf("PATCH body = %s", body)
				}
			}},
		{name: "licence names as organisations show them: Calling Basic carries the Calling properties, a lower-case Contact center agent licence none",
			setup: realNames, ch: change(1, "BASIC", "CC-STD"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				body := f.Calls("PATCH", "/licenses/users")[0].Body
				if strings.Count(body, `"properties"`) != 1 || !strings.Contains(body, `{"id":"BASIC","operation":"add","properties":{"locationId":"L1"`) {
					t.Errorf("PATCH body = %s", body)
				}
				if f.Licence("BASIC").Consumed != 1 || f.Licence("CC-STD").Consumed != 1 {
					t.Error("not applied")
				}
			}},
		{name: "a lower-case Contact center Standard Agent beside a Premium Agent is the agent conflict",
			setup: func(f *fake) { realNames(f); f.People["P1"].Licences = []string{"CC-PRM"} },
			ch:    change(1, "CC-STD"), cause: licensing.CauseAgentLicenceConflict, patches: 1},
		{name: "a change without a person id is sent by email",
			ch: licensing.Change{Email: "user2@example.com", Licences: []string{"MEET"}}, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if !strings.Contains(f.Calls("PATCH", "/licenses/users")[0].Body, `"email":"user2@example.com"`) {
					t.Error("PATCH did not name the person by email")
				}
			}},
		{name: "no free unit is a licence-unavailable refusal, not retried, with the tracking id",
			setup: func(f *fake) { f.Licence("CALL").Consumed = f.Licence("CALL").Total },
			ch:    change(1, "CALL"), cause: licensing.CauseLicenceUnavailable, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				var ae *licensing.ApplyError
				errors.As(err, &ae)
				if ae.TrackingID != "NA_fake-track" || !strings.Contains(ae.Detail, "NA_fake-track") || ae.Status != 400 {
					t.Errorf("refusal = %+v", ae)
				}
			}},
		{name: "a number owned by someone else is refused as assigned to other",
			setup: func(f *fake) { f.Number(num(1)).OwnerID, f.Number(num(1)).OwnerType = "P2", "PEOPLE" },
			ch:    change(1, "CALL"), cause: licensing.CauseNumberAssignedToOther, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 0 {
					t.Error("a refused change consumed a unit")
				}
			}},
		{name: "a number at another location is refused as location invalid",
			setup: func(f *fake) { f.Number(num(1)).Location = "L2" },
			ch:    change(1, "CALL"), cause: licensing.CauseNumberLocationInvalid, patches: 1},
		{name: "an unknown person is refused as not found",
			ch: change(99, "MEET"), cause: licensing.CauseWebexUserNotFound, patches: 1},
		{name: "a 206, which carries no error list, names the licence missing from the answer as not applied",
			setup: func(f *fake) { f.Deny["MEET"] = true },
			ch:    change(1, "CALL", "MEET"), cause: licensing.CauseLicenceUnavailable, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				var ae *licensing.ApplyError
				if !errors.As(err, &ae) || ae.Status != 206 || !strings.Contains(err.Error(), "applied Webex Calling - Professional [S1]; not applied Meetings 200 [S1]: HTTP 206") {
					t.Errorf("206 error = %v", err)
				}
			}},
		{name: "a 206 that left a licence to remove in place names the removal as not applied",
			setup: func(f *fake) { f.Deny["MEET"] = true; f.People["P1"].Licences = []string{"MEET"} },
			ch:    licensing.Change{PersonID: "P1", Licences: []string{"CALL"}, Remove: []string{"MEET"}, LocationID: "L1", PhoneNumber: num(1)},
			cause: licensing.CauseLicenceUnavailable, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if !strings.Contains(err.Error(), "applied Webex Calling - Professional [S1]; not applied removal of Meetings 200 [S1]") {
					t.Errorf("206 error = %v", err)
				}
			}},
		{name: "a 206 whose answer lists no licences leaves every requested change unconfirmed",
			setup: func(f *fake) { f.Deny["MEET"] = true; f.Bare206 = true },
			ch:    change(1, "CALL", "MEET"), cause: licensing.CauseAPIError, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if !strings.Contains(err.Error(), "adding CALL, MEET was partly applied, and the answer does not say what landed") {
					t.Errorf("206 error = %v", err)
				}
			}},
		{name: "throttled writes wait for Retry-After and apply once",
			setup: func(f *fake) { f.ThrottleEvery = 2; f.RetryAfter = "1" },
			ch:    change(1, "CALL"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 {
					t.Error("not applied")
				}
				var at []time.Time
				for _, e := range f.Log {
					if e.Method == "PATCH" {
						at = append(at, e.At)
					}
				}
				if len(at) != 2 || at[1].Sub(at[0]) < 900*time.Millisecond {
					t.Errorf("PATCH times = %v, want a throttled one and one a second later", at)
				}
			}},
		{name: "a burst of 5xx is reconciled by reading the person back and applied exactly once",
			setup: func(f *fake) { f.Fail5xx, f.Fail5xxPath = 3, "/licenses/users" },
			ch:    change(1, "CALL", "MEET"),
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 || f.Licence("MEET").Consumed != 1 {
					t.Error("not applied once")
				}
				if len(f.Calls("GET", "/people/P1")) == 0 {
					t.Error("5xx on a write was not reconciled")
				}
			}},
		{name: "a person locked by another change (423) is retried after Retry-After and applied once",
			setup: func(f *fake) { f.ThrottleEvery, f.ThrottleStatus = 2, 423 },
			ch:    change(1, "CALL"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 {
					t.Error("not applied")
				}
			}},
		{name: "a 500 after the server applied is reconciled and not sent again",
			setup: func(f *fake) { f.Crash["P1"] = "500" },
			ch:    change(1, "CALL", "MEET"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 || f.Licence("MEET").Consumed != 1 {
					t.Error("consumed units are not 1 each")
				}
			}},
		{name: "a connection dropped after the server applied is reconciled and not sent again",
			setup: func(f *fake) { f.Crash["P1"] = "drop" },
			ch:    change(1, "CALL"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if n := len(f.Calls("GET", "/people/P1")); n != 1 {
					t.Errorf("read back %d times, want 1", n)
				}
			}},
		{name: "a write that hangs past the client timeout after applying is reconciled and not sent again",
			setup: func(f *fake) { f.Crash["P1"] = "hang" }, opt: Options{Timeout: 300 * time.Millisecond},
			ch: change(1, "CALL", "MEET"), patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 || f.Licence("MEET").Consumed != 1 {
					t.Error("consumed units are not 1 each")
				}
			}},
		{name: "a write that cannot be confirmed because the read back fails is reported and not sent again",
			setup: func(f *fake) { f.Crash["P1"] = "drop"; f.Fail5xx, f.Fail5xxPath = 100, "/people/P1" },
			ch:    change(1, "CALL"), cause: licensing.CauseAPIError, patches: 1,
			check: func(t *testing.T, f *fake, err error) {
				if !strings.Contains(err.Error(), "may or may not have been applied") {
					t.Errorf("error = %v", err)
				}
			}},
		{name: "a connection dropped before the server applied is reconciled and then sent again",
			setup: func(f *fake) { f.Crash["P1"] = "drop-before" },
			ch:    change(1, "CALL"), patches: 2,
			check: func(t *testing.T, f *fake, err error) {
				if f.Licence("CALL").Consumed != 1 {
					t.Error("not applied after the drop")
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Org(3, 5, 5)
			if tc.setup != nil {
				tc.setup(f)
			}
			c := f.client(t, tc.opt)
			errs, pass := c.Apply(context.Background(), []licensing.Change{tc.ch})
			if pass != nil {
				t.Fatalf("pass error: %v", pass)
			}
			err := errs[0]
			var ae *licensing.ApplyError
			switch {
			case tc.cause == "" && err != nil:
				t.Fatalf("not applied: %v", err)
			case tc.cause != "" && (!errors.As(err, &ae) || ae.Cause != tc.cause):
				t.Fatalf("error = %v, want cause %s", err, tc.cause)
			}
			if tc.patches > 0 {
				if n := len(f.Calls("PATCH", "/licenses/users")); n != tc.patches {
					t.Errorf("PATCH sent %d times, want %d", n, tc.patches)
				}
			}
			if tc.check != nil {
				tc.check(t, f, err)
			}
		})
	}
}

func TestApplyKeepsToTheConcurrencyAndGrantsEachLicenceOnce(t *testing.T) {
	f := newFake(t)
	f.Org(60, 60, 100)
	f.ThrottleEvery = 7
	f.Fail5xx = 5
	c := f.client(t, Options{Concurrency: 3})
	var changes []licensing.Change
	for i := range 60 {
		changes = append(changes, change(i, "CALL"))
	}
	errs, pass := c.Apply(context.Background(), changes)
	if pass != nil {
		t.Fatal(pass)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("change %d: %v", i, err)
		}
	}
	if f.Licence("CALL").Consumed != 60 {
		t.Errorf("consumed = %d, want 60", f.Licence("CALL").Consumed)
	}
	if f.MaxIn > 3 {
		t.Errorf("%d requests in flight, want at most 3", f.MaxIn)
	}
	if s := c.Stats(); s.Throttled == 0 {
		t.Errorf("stats = %+v, want throttled requests counted", s)
	}
	applied := map[string]int{}
	for _, e := range f.Calls("PATCH", "/licenses/users") {
		if e.Status == 200 {
			for i := range 60 {
				if strings.Contains(e.Body, fmt.Sprintf(`"personId":"P%d"`, i)) {
					applied[fmt.Sprint(i)]++
				}
			}
		}
	}
	for id, n := range applied {
		if n != 1 {
			t.Errorf("person P%s got %d successful PATCHes", id, n)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Run("a rejected token without a refresh token stops the pass and is never shown", func(t *testing.T) {
		f := newFake(t)
		f.Org(3, 5, 5)
		c := f.client(t, Options{Token: "sekrit-token-value"})
		c.licences = map[string]licensing.Licence{}
		errs, pass := c.Apply(context.Background(), []licensing.Change{change(1, "MEET"), change(2, "MEET")})
		if !errors.Is(pass, ErrTokenRejected) || !strings.Contains(pass.Error(), "webex: token rejected (target.webex.token)") {
			t.Fatalf("pass error = %v", pass)
		}
		for i, err := range errs {
			if err == nil {
				t.Errorf("change %d has no error after the pass stopped", i)
			}
		}
		for _, s := range append([]string{pass.Error()}, errs[0].Error(), errs[1].Error()) {
			if strings.Contains(s, "sekrit") {
				t.Errorf("the token shows in %q", s)
			}
		}
	})
	t.Run("a rejected token is refreshed once and the request resent with the new one", func(t *testing.T) {
		f := newFake(t)
		f.Org(3, 5, 5)
		f.RefreshToken, f.ClientID, f.ClientSecret, f.ExpiresIn = "ref-0", "cid", "csecret", 3600
		c := f.client(t, Options{Token: "expired", RefreshToken: "ref-0", ClientID: "cid", ClientSecret: "csecret"})
		errs, pass := c.Apply(context.Background(), []licensing.Change{change(1, "CALL")})
		if pass != nil || errs[0] != nil {
			t.Fatalf("pass = %v, change = %v", pass, errs[0])
		}
		if n := len(f.Calls("POST", "/access_token")); n != 1 {
			t.Errorf("refreshed %d times, want 1", n)
		}
		if f.Licence("CALL").Consumed != 1 {
			t.Error("not applied with the refreshed token")
		}
	})
	t.Run("a token about to expire is refreshed before it is sent", func(t *testing.T) {
		f := newFake(t)
		f.Org(3, 5, 5)
		f.RefreshToken, f.ClientID, f.ClientSecret, f.ExpiresIn = "ref-0", "cid", "csecret", 60
		c := f.client(t, Options{RefreshToken: "ref-0", ClientID: "cid", ClientSecret: "csecret"})
		if _, err := c.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Every token lives 60s, under the 5 minute margin: each request
		// refreshes first, and no request is refused.
		for _, e := range f.Log {
			if e.Status == 401 {
				t.Errorf("%s %s was refused", e.Method, e.Path)
			}
		}
		if n := len(f.Calls("POST", "/access_token")); n < 2 {
			t.Errorf("refreshed %d times, want once per request", n)
		}
	})
	t.Run("a refused refresh stops the pass", func(t *testing.T) {
		f := newFake(t)
		f.Org(3, 5, 5)
		f.RefreshToken, f.ClientID, f.ClientSecret = "ref-0", "cid", "csecret"
		c := f.client(t, Options{Token: "expired", RefreshToken: "wrong", ClientID: "cid", ClientSecret: "csecret"})
		c.licences = map[string]licensing.Licence{}
		_, pass := c.Apply(context.Background(), []licensing.Change{change(1, "MEET")})
		if !errors.Is(pass, ErrTokenRejected) || strings.Contains(pass.Error(), "wrong") {
			t.Fatalf("pass error = %v", pass)
		}
	})
}

func TestRetryAfterIsHonouredAndCapped(t *testing.T) {
	c, err := New(Options{Token: "t", MaxRetryAfter: 5 * time.Second, Backoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, header string
		lo, hi       time.Duration
	}{
		{"seconds are waited as given", "2", 2 * time.Second, 2 * time.Second},
		{"a long wait is capped", "3600", 5 * time.Second, 5 * time.Second},
		{"a missing header falls back to jittered backoff", "", 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := &response{Status: 429, Header: map[string][]string{}}
			if tc.header != "" {
				res.Header.Set("Retry-After", tc.header)
			}
			if d := c.retryAfter(res, 1); d < tc.lo || d > tc.hi {
				t.Errorf("wait = %s, want %s..%s", d, tc.lo, tc.hi)
			}
		})
	}
}

func TestThrottlingCutsTheRateAndSuccessRestoresIt(t *testing.T) {
	c, err := New(Options{Token: "t", Rate: 40})
	if err != nil {
		t.Fatal(err)
	}
	c.adapt(429)
	c.adapt(429)
	if l := float64(c.lim.Limit()); l != 20 {
		t.Fatalf("rate after the first two 429s at once = %v, want halved once to 20", l)
	}
	c.lastCut.Store(time.Now().Add(-time.Second).UnixNano())
	c.adapt(429)
	if l := float64(c.lim.Limit()); l != 17 {
		t.Fatalf("rate after a later 429 = %v, want cut by 15%% to 17", l)
	}
	// Back up to near the rate last throttled at, quickly.
	n := 0
	for ; float64(c.lim.Limit()) < 0.95*20 && n < 10000; n++ {
		c.adapt(200)
	}
	if n > 60 {
		t.Errorf("%d answers to get back near the last throttled rate, want a few seconds' worth", n)
	}
	for range 20000 {
		c.adapt(200)
	}
	if l := float64(c.lim.Limit()); l != 40 {
		t.Errorf("rate after many successes = %v, want back at the configured 40", l)
	}
}

func TestReads(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fake)
		wantErr string
		calls   int
	}{
		{name: "a read answered 5xx on every attempt gives up after the attempts allowed",
			setup: func(f *fake) { f.Fail5xx = 100 }, wantErr: "gave up after 6 attempts", calls: 6},
		{name: "a burst of 5xx shorter than the attempts allowed is ridden out",
			setup: func(f *fake) { f.Fail5xx = 4 }, calls: 5},
		{name: "a 4xx read is not retried",
			setup: func(f *fake) { f.FailStatus = 403 }, wantErr: "HTTP 403", calls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Org(0, 3, 1)
			tc.setup(f)
			c := f.client(t, Options{})
			_, err := c.Snapshot(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("snapshot: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
			}
			n := 0
			for _, e := range f.Log {
				if e.Path == "/licenses" {
					n++
				}
			}
			if n != tc.calls {
				t.Errorf("GET /licenses sent %d times, want %d", n, tc.calls)
			}
		})
	}
}

// moveFake is an org where P1 has Calling from S1 on number 1 and S2 offers
// the same licence.
func moveFake(t *testing.T, s2units int) *fake {
	f := newFake(t)
	f.Org(3, 5, 5)
	f.Licences = append(f.Licences, &fakeLicence{ID: "CALL2", Name: "Webex Calling - Professional", Sub: "S2", Total: s2units})
	p := f.People["P1"]
	p.Licences, p.Phone, p.Location = []string{"CALL", "MEET"}, num(1), "L1"
	f.Licence("CALL").Consumed, f.Licence("MEET").Consumed = 1, 1
	f.Number(num(1)).OwnerID, f.Number(num(1)).OwnerType = "P1", "PEOPLE"
	return f
}

func moveChange() licensing.Change {
	c := change(1, "CALL2")
	c.Remove = []string{"CALL"}
	return c
}

func TestAMoveIsOnePatchThatAddsAndRemovesTogether(t *testing.T) {
	tests := []struct {
		name    string
		units   int
		crash   string
		cause   licensing.Cause
		patches int
		holds   string
	}{
		{name: "a move keeps the number and location and frees the old unit", units: 5, patches: 1, holds: "MEET CALL2"},
		{name: "a move whose connection drops after it applied is read back and not sent again", units: 5, crash: "drop", patches: 1, holds: "MEET CALL2"},
		{name: "a move that never reached the org is sent again once the read back shows it", units: 5, crash: "drop-before", patches: 2, holds: "MEET CALL2"},
		{name: "a move to a subscription without units is refused and leaves the old licence", units: 0, cause: licensing.CauseLicenceUnavailable, patches: 1, holds: "CALL MEET"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := moveFake(t, tc.units)
			if tc.crash != "" {
				f.Crash["P1"] = tc.crash
			}
			c := f.client(t, Options{})
			errs, pass := c.Apply(context.Background(), []licensing.Change{moveChange()})
			if pass != nil {
				t.Fatal(pass)
			}
			var ae *licensing.ApplyError
			if (tc.cause == "") != (errs[0] == nil) || (tc.cause != "" && (!errors.As(errs[0], &ae) || ae.Cause != tc.cause)) {
				t.Fatalf("err = %v, want cause %q", errs[0], tc.cause)
			}
			patches := f.Calls("PATCH", "/licenses/users")
			if len(patches) != tc.patches {
				t.Fatalf("%d PATCHes reached the org, want %d", len(patches), tc.patches)
			}
			body := patches[0].Body
			if !strings.Contains(body, `{"id":"CALL2","operation":"add","properties":{"locationId":"L1","phoneNumber":"+15550000001","extension":"1001"}}`) ||
				!strings.Contains(body, `{"id":"CALL","operation":"remove"}`) {
				t.Errorf("PATCH body = %s, want the add with properties and the remove together", body)
			}
			p := f.People["P1"]
			if strings.Join(p.Licences, " ") != tc.holds || p.Phone != num(1) || p.Location != "L1" || f.Number(num(1)).OwnerID != "P1" {
				t.Errorf("person after = %+v, number owner %q", p, f.Number(num(1)).OwnerID)
			}
			if tc.cause == "" && (f.Licence("CALL").Consumed != 0 || f.Licence("CALL2").Consumed != 1) {
				t.Errorf("units after the move: CALL %d, CALL2 %d", f.Licence("CALL").Consumed, f.Licence("CALL2").Consumed)
			}
		})
	}
}

func TestAddingASecondCallingLicenceWithoutTheRemovalIsRefused(t *testing.T) {
	f := moveFake(t, 5)
	c := f.client(t, Options{})
	errs, _ := c.Apply(context.Background(), []licensing.Change{change(1, "CALL2")})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "error 400404") {
		t.Fatalf("err = %v, want the service's 400404 refusal", errs[0])
	}
	if strings.Join(f.People["P1"].Licences, " ") != "CALL MEET" {
		t.Fatalf("licences after the refusal = %v", f.People["P1"].Licences)
	}
}

func TestAnAgentSwapRefusedByTheServiceIsAnAgentConflict(t *testing.T) {
	f := newFake(t)
	f.Org(3, 5, 5)
	f.Licences = append(f.Licences, &fakeLicence{ID: "STD", Name: "Contact Center Standard Agent", Sub: "CC", Total: 5},
		&fakeLicence{ID: "PRM", Name: "Contact Center Premium Agent", Sub: "CC", Total: 5, Consumed: 1})
	f.People["P1"].Licences = []string{"PRM"}
	c := f.client(t, Options{})
	errs, _ := c.Apply(context.Background(), []licensing.Change{change(1, "STD")})
	var ae *licensing.ApplyError
	if !errors.As(errs[0], &ae) || ae.Cause != licensing.CauseAgentLicenceConflict {
		t.Fatalf("err = %v, want %s", errs[0], licensing.CauseAgentLicenceConflict)
	}
	swap := change(1, "STD")
	swap.Remove = []string{"PRM"}
	errs, _ = c.Apply(context.Background(), []licensing.Change{swap})
	if errs[0] != nil || strings.Join(f.People["P1"].Licences, " ") != "STD" {
		t.Fatalf("swap: err %v, licences %v", errs[0], f.People["P1"].Licences)
	}
}

func TestHoldersFollowsTheLicenceUserPages(t *testing.T) {
	f := newFake(t)
	f.Org(650, 650, 1000)
	for i := range 650 {
		if i%2 == 0 {
			p := f.People[fmt.Sprintf("P%d", i)]
			p.Licences, p.Phone, p.Location = []string{"CALL"}, num(i), "L1"
		}
	}
	c := f.client(t, Options{})
	got, err := c.Holders(context.Background(), "CALL")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 325 {
		t.Fatalf("holders = %d, want 325", len(got))
	}
	for _, p := range got {
		if p.PhoneNumber == "" || p.LocationID != "L1" {
			t.Fatalf("holder without Calling data: %+v", p)
		}
	}
	if n := len(f.Calls("GET", "/licenses/CALL")); n != 2 {
		t.Errorf("licence user pages read = %d, want 2 (300 a page)", n)
	}
}

func TestDocumentedErrorCodesMapToCauses(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   int
		desc   string
		want   licensing.Cause
	}{
		{"each Calling licence needs its own properties", 400, 400411, "Each Webex Calling license should contain its own calling properties", licensing.CauseAPIError},
		{"a Professional to Standard downgrade is refused as it is, not as a unit shortage", 400, 400112, "Changing a user's Webex Calling license from Professional to Standard is not allowed", licensing.CauseAPIError},
		{"both Professional and Standard is refused as it is", 400, 400404, "A user cannot be assigned both Professional and Standard licenses", licensing.CauseAPIError},
		{"an unknown licence is unavailable", 400, 400000, "License not recognized", licensing.CauseLicenceUnavailable},
		{"a number in use by another user is assigned to other", 400, 400320, "Phone number +1555 is already assigned to another user", licensing.CauseNumberAssignedToOther},
		{"both agent kinds is an agent conflict", 400, 0, "A user cannot have both a Standard and a Premium Contact Center agent license.", licensing.CauseAgentLicenceConflict},
		{"a missing person is not found", 404, 0, "", licensing.CauseWebexUserNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := apiError{Message: "License assignment failed"}
			e.Errors = append(e.Errors, struct {
				ErrorCode   int    `json:"errorCode"`
				Description string `json:"description"`
			}{tc.code, tc.desc})
			if got := cause(tc.status, e); got != tc.want {
				t.Fatalf("cause = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAWorkspaceMoveRewritesOnlyItsLicences(t *testing.T) {
	tests := []struct {
		name     string
		units    int
		fail     int
		cause    licensing.Cause
		licences string
		puts     int
	}{
		{name: "a workspace move swaps the licence and sends every other field back as read", units: 2, licences: "WSB", puts: 1},
		{name: "a 5xx on the write is retried, the list being set rather than added to", units: 2, fail: 2, licences: "WSB", puts: 1},
		{name: "a workspace move onto a subscription without units is refused and changes nothing", units: 0, cause: licensing.CauseLicenceUnavailable, licences: "WSA", puts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Org(0, 5, 5)
			f.Licences = append(f.Licences, &fakeLicence{ID: "WSA", Name: "Webex Calling - Workspaces", Sub: "S1", Total: 5, Consumed: 1},
				&fakeLicence{ID: "WSB", Name: "Webex Calling - Workspaces", Sub: "S2", Total: tc.units})
			f.Workspace("W1", "Lobby", "WSA", num(2), "1002", "L1")
			f.Workspace("W2", "Kitchen", "CALL", num(3), "1003", "L1")
			f.Fail5xx, f.Fail5xxPath, f.Fail5xxMethod = tc.fail, "/workspaces/W1", "PUT"
			c := f.client(t, Options{})
			ws, err := c.WorkspaceHolders(context.Background(), "WSA")
			if err != nil || len(ws) != 1 || ws[0].ID != "W1" || ws[0].PhoneNumber != num(2) || ws[0].Extension != "1002" {
				t.Fatalf("holders = %+v, %v", ws, err)
			}
			ch := licensing.WorkspaceChange{WorkspaceID: "W1", Licences: []string{"WSB"}, Remove: []string{"WSA"}}
			errs, pass := c.ApplyWorkspaces(context.Background(), []licensing.WorkspaceChange{ch})
			if pass != nil {
				t.Fatal(pass)
			}
			var ae *licensing.ApplyError
			if (tc.cause == "") != (errs[0] == nil) || (tc.cause != "" && (!errors.As(errs[0], &ae) || ae.Cause != tc.cause)) {
				t.Fatalf("err = %v, want cause %q", errs[0], tc.cause)
			}
			w := f.Workspaces["W1"]
			wc := w["calling"].(map[string]any)["webexCalling"].(map[string]any)
			if fmt.Sprint(wc["licenses"]) != "["+tc.licences+"]" || wc["phoneNumber"] != num(2) || wc["extension"] != "1002" || wc["locationId"] != "L1" {
				t.Errorf("workspace calling after = %v", wc)
			}
			if cal, _ := w["calendar"].(map[string]any); cal["emailAddress"] != "Lobby@example.com" {
				t.Errorf("the calendar did not survive the write: %v", w["calendar"])
			}
			if n := len(f.Calls("PUT", "/workspaces/W1")); n != tc.puts {
				t.Errorf("PUTs that reached the org = %d, want %d", n, tc.puts)
			}
			if tc.fail > 0 && c.Stats().Retries < int64(tc.fail) {
				t.Errorf("retries = %d, want the %d 503s retried", c.Stats().Retries, tc.fail)
			}
			if tc.cause == "" && (f.Licence("WSA").Consumed != 0 || f.Licence("WSB").Consumed != 1) {
				t.Errorf("units: WSA %d, WSB %d", f.Licence("WSA").Consumed, f.Licence("WSB").Consumed)
			}
		})
	}
}

func TestThePersonsCallingNumberIsTheWorkEntryInE164(t *testing.T) {
	tests := []struct {
		name string
		nums []phoneNumber
		want string
	}{
		{"a number formatted as the reference shows it", []phoneNumber{{Type: "work", Value: "+1 408 526 7209", Primary: true}}, "+14085267209"},
		{"the work entry among extension, enterprise and alternate entries",
			[]phoneNumber{{Type: "work_extension", Value: "7209"}, {Type: "enterprise", Value: "87209"}, {Type: "alternate1", Value: "+1 408 526 7000"},
				{Type: "alternate2", Value: "+1 408 526 7001"}, {Type: "work", Value: "+1 408 526 7209", Primary: true}}, "+14085267209"},
		{"the primary of two work entries", []phoneNumber{{Type: "work", Value: "+44 20 7946 0000"}, {Type: "work", Value: "+1-408-526-7209", Primary: true}}, "+14085267209"},
		{"no work entry: no Calling number", []phoneNumber{{Type: "mobile", Value: "+1 408 555 0100"}, {Type: "work_extension", Value: "7209"}}, ""},
		{"a value without a country code is kept as shown, matching no E.164 number", []phoneNumber{{Type: "work", Value: "408 526 7209"}}, "408 526 7209"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := callingNumber(tc.nums); got != tc.want {
				t.Errorf("callingNumber = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTheTestServerRefusesMoreThanAHundredPeopleAPageWithCallingData(t *testing.T) {
	tests := []struct {
		max    string
		status int
	}{{"100", 200}, {"101", 400}, {"1000", 400}}
	for _, tc := range tests {
		t.Run("max "+tc.max, func(t *testing.T) {
			f := newFake(t)
			f.Org(3, 3, 3)
			c := f.client(t, Options{})
			var body map[string]any
			_, err := c.getJSON(context.Background(), "list people", c.url("/people", url.Values{"callingData": {"true"}, "max": {tc.max}}), &body)
			var se *statusError
			switch {
			case tc.status == 200 && err != nil:
				t.Fatalf("max %s refused: %v", tc.max, err)
			case tc.status != 200 && (!errors.As(err, &se) || se.res.Status != tc.status || !strings.Contains(err.Error(), "max cannot be more than 100")):
				t.Fatalf("max %s: err = %v, want the documented 400", tc.max, err)
			}
			f.Mu.Lock()
			f.OverPaged = nil // refused on purpose here
			f.Mu.Unlock()
		})
	}
}
