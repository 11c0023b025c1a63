package webex

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/webextest"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// provisioned fills the fake with n people who hold Calling on the number
// phone(i) at L1, the inventory naming each as the owner.
func (f *fake) provisioned(n int, phone func(int) string) {
	f.Locations = []webextest.Location{{ID: "L1", Name: "Berlin"}, {ID: "L2", Name: "Paris"}}
	f.Licences = []*fakeLicence{
		{ID: "CALL", Name: "Webex Calling - Professional", Sub: "S1", Total: n + 10, Consumed: n},
		{ID: "MEET", Name: "Meetings 200", Sub: "S1", Total: n + 10},
	}
	for i := range n {
		id := fmt.Sprintf("P%d", i)
		f.People[id] = &fakePerson{ID: id, Email: fmt.Sprintf("user%d@example.com", i), Name: fmt.Sprintf("User %d", i),
			Licences: []string{"CALL"}, Phone: phone(i), Location: "L1"}
		f.Numbers = append(f.Numbers, &fakeNumber{Phone: phone(i), Ext: fmt.Sprint(100000 + i), Location: "L1", State: "ACTIVE", OwnerID: id, OwnerType: "PEOPLE"})
	}
}

// requests counts what reached the fake, by kind.
func (f *fake) requests() (all, lookups, listPages int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for _, e := range f.Log {
		all++
		if e.Method == "GET" && e.Path == "/people" {
			if strings.Contains(e.Query, "email=") {
				lookups++
			} else {
				listPages++
			}
		}
	}
	return all, lookups, listPages
}

func emailsOf(lo, hi int) []string {
	var out []string
	for i := lo; i < hi; i++ {
		out = append(out, fmt.Sprintf("User%d@Example.com", i))
	}
	return out
}

func TestAFullPassOverAHundredThousandUnchangedUsersTakesAtMostTwoThousandRequests(t *testing.T) {
	const users = 100000
	f := newFake(t)
	f.provisioned(users, num)
	c := f.client(t, Options{})
	ctx := context.Background()
	if _, err := c.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	c.ExpectLookups(users)
	for lo := 0; lo < users; lo += 500 {
		got, err := c.People(ctx, emailsOf(lo, lo+500))
		if err != nil {
			t.Fatal(err)
		}
		for i := lo; i < lo+500; i++ {
			p := got[fmt.Sprintf("user%d@example.com", i)]
			if p.ID != fmt.Sprintf("P%d", i) || p.PhoneNumber != num(i) || p.LocationID != "L1" || !slices.Equal(p.Licences, []string{"CALL"}) {
				t.Fatalf("user %d = %+v, want P%d with Calling on %s at L1", i, p, i, num(i))
			}
		}
	}
	all, lookups, listPages := f.requests()
	t.Logf("%d requests: %d people pages, %d look-ups", all, listPages, lookups)
	if all > 2000 || lookups != 0 || listPages != users/listPage {
		t.Errorf("%d requests (%d look-ups, %d people pages); want at most 2000, none, %d", all, lookups, listPages, users/listPage)
	}
}

func TestPeopleListedOrLookedUpAreTheSame(t *testing.T) {
	f := newFake(t)
	f.Org(6, 10, 10)
	f.People["P1"].Licences = []string{"CALL", "MEET"}
	f.People["P1"].Phone, f.People["P1"].Location = num(1), "L1"
	f.Number(num(1)).OwnerID, f.Number(num(1)).OwnerType = "P1", "PEOPLE"
	f.People["P2"].Licences = []string{"MEET"}
	// P3 has Calling with two numbers in the inventory (an alternate), P4
	// with none (an extension only): both are read with Calling data.
	f.People["P3"].Licences = []string{"CALL"}
	f.People["P3"].Phone, f.People["P3"].Location = num(3), "L1"
	f.Number(num(3)).OwnerID, f.Number(num(3)).OwnerType = "P3", "PEOPLE"
	f.Number(num(4)).OwnerID, f.Number(num(4)).OwnerType = "P3", "PEOPLE"
	f.People["P4"].Licences = []string{"CALL"}
	f.People["P4"].Location = "L1"
	emails := append(emailsOf(0, 6), "nobody@example.com")

	find := func(list bool) map[string]licensing.Person {
		c := f.client(t, Options{})
		if _, err := c.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		if list {
			c.ExpectLookups(len(emails))
		}
		got, err := c.People(context.Background(), emails)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	looked := find(false)
	_, lookups, _ := f.requests()
	listed := find(true)
	_, lookups2, listPages := f.requests()
	if lookups != len(emails) || lookups2 != lookups || listPages != 1 {
		t.Fatalf("look-ups %d then %d, people pages %d: the two ways were not taken", lookups, lookups2, listPages)
	}
	if !reflect.DeepEqual(looked, listed) {
		t.Errorf("looked up:\n%+v\nlisted:\n%+v", looked, listed)
	}
	if p := listed["user1@example.com"]; p.PhoneNumber != num(1) || p.LocationID != "L1" {
		t.Errorf("user1 listed = %+v", p)
	}
	if n := len(f.Calls("GET", "/people/P3")) + len(f.Calls("GET", "/people/P4")); n != 2 {
		t.Errorf("P3 and P4 read by id %d times in the listing pass, want once each", n)
	}
}

func TestAListingLongerThanTheLookUpsItReplacesIsDropped(t *testing.T) {
	f := newFake(t)
	// No licence held and no number owned: the snapshot sees no people, so
	// the pass starts listing 5,000 of them to find 3.
	f.Org(5000, 3, 3)
	c := f.client(t, Options{})
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.ExpectLookups(3)
	got, err := c.People(context.Background(), []string{"user7@example.com", "user4999@example.com", "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["user4999@example.com"].ID != "P4999" {
		t.Fatalf("people = %+v", got)
	}
	_, lookups, listPages := f.requests()
	if listPages != 3 || lookups != 3 {
		t.Errorf("%d people pages and %d look-ups; want the listing dropped after 3 pages, then 3 look-ups", listPages, lookups)
	}
}

// changingSource is a directory whose first read is every user and whose
// later reads are the users changed since, by checkpoint.
type changingSource struct {
	users   []licensing.DirectoryUser
	changed []int
}

func (s *changingSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	if since == "" {
		for _, u := range s.users {
			if err := emit(u); err != nil {
				return "", false, err
			}
		}
		return "1", true, nil
	}
	for _, i := range s.changed {
		if err := emit(s.users[i]); err != nil {
			return "", false, err
		}
	}
	return since + "+", false, nil
}

func (s *changingSource) Close() error { return nil }

// e164 is a valid New York number per user.
func e164(i int) string { return fmt.Sprintf("+1212%07d", 2000000+i) }

func TestAPassListsPeopleOrLooksThemUpByWhatCostsFewerRequests(t *testing.T) {
	const users = 2500
	tests := []struct {
		name     string
		changed  int
		listed   bool
		maxTotal func(inventoryPages int) int
	}{
		{"an incremental pass with 3 changed users looks them up", 3, false, func(inv int) int { return 3 + inv + 10 }},
		{"an incremental pass with 40 changed users lists the 2,500 people in 3 pages", 40, true, func(inv int) int { return 40 + inv + 10 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.provisioned(users, e164)
			src := &changingSource{}
			for i := range users {
				src.users = append(src.users, licensing.DirectoryUser{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i),
					DisplayName: fmt.Sprintf("User %d", i), WorkPhone: e164(i), Enabled: true})
			}
			for i := range tc.changed {
				src.changed = append(src.changed, i*61)
			}
			dir := t.TempDir()
			store, err := pass.OpenStore(filepath.Join(dir, "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			pass := func(id string) *pass.Result {
				clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
				res, err := pass.Execute(context.Background(), pass.Options{
					Policy: &licensing.Policy{Templates: []licensing.Template{{Name: "calling", Licences: []licensing.LicenceRef{{ID: "CALL"}}}}},
					Source: src, Target: f.client(t, Options{}), Store: store, Mode: pass.Apply, SourceKey: "test",
					ReportDir: filepath.Join(dir, "reports"), BatchSize: 500, Workers: 2, Now: func() time.Time { return clock }, RunID: id,
				})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}

			full := pass("RUN-1")
			all, lookups, listPages := f.requests()
			if full.Summary.Outcomes[string(licensing.AlreadyProvisioned)] != users || full.Writes != 0 {
				t.Fatalf("full pass: %v, %d writes; want every user already provisioned", full.Summary.Outcomes, full.Writes)
			}
			if lookups != 0 || listPages != 3 {
				t.Errorf("full pass: %d look-ups and %d people pages in %d requests; want the 2,500 people listed in 3 pages", lookups, listPages, all)
			}

			f.Mu.Lock()
			f.Log = nil
			f.Mu.Unlock()
			inc := pass("RUN-2")
			all, lookups, listPages = f.requests()
			inventory := len(f.Calls("GET", "/telephony/config/numbers"))
			if inc.Summary.Outcomes[string(licensing.AlreadyProvisioned)] != tc.changed {
				t.Fatalf("incremental pass: %v, want the %d changed users already provisioned", inc.Summary.Outcomes, tc.changed)
			}
			if all > tc.maxTotal(inventory) {
				t.Errorf("incremental pass: %d requests, over %d (changed users + %d inventory pages + 10)", all, tc.maxTotal(inventory), inventory)
			}
			if tc.listed && (listPages != 3 || lookups != 0) || !tc.listed && (listPages != 0 || lookups != tc.changed) {
				t.Errorf("incremental pass: %d people pages and %d look-ups", listPages, lookups)
			}
		})
	}
}

func TestAListingThatFailsIsDroppedForLookUpsAndAFailedReadFailsOneUser(t *testing.T) {
	f := newFake(t)
	f.Org(4, 4, 4)
	f.People["P1"].Licences = []string{"CALL"} // Calling without a number in the inventory: read by id
	f.People["P2"].Licences = []string{"MEET"}
	f.Licence("MEET").Consumed = 1
	c := f.client(t, Options{MaxAttempts: 2})
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.ExpectLookups(4)
	f.Mu.Lock()
	f.Fail5xx, f.Fail5xxPath = 100, "/people/P1"
	f.Mu.Unlock()
	got, err := c.People(context.Background(), emailsOf(0, 4))
	var le licensing.LookupErrors
	if !errors.As(err, &le) || len(le) != 1 || le["user1@example.com"] == nil {
		t.Fatalf("err = %v, want user1's read alone failed", err)
	}
	if len(got) != 3 || got["user2@example.com"].ID != "P2" {
		t.Fatalf("people = %+v, want the other three", got)
	}

	// A second pass whose listing fails after its retries looks the users up.
	if _, err := c.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.ExpectLookups(4)
	f.Mu.Lock()
	f.Log, f.Fail5xx, f.Fail5xxPath = nil, 2, "/people"
	f.Mu.Unlock()
	got, err = c.People(context.Background(), emailsOf(0, 4))
	if err != nil || len(got) != 4 {
		t.Fatalf("people = %+v, err %v; want all four looked up", got, err)
	}
	if _, lookups, _ := f.requests(); lookups != 4 {
		t.Errorf("%d look-ups after the listing failed, want 4", lookups)
	}
}

// An incremental pass over an organisation of 100,000 people chooses
// between listing them (100 pages) and looking its k users up one by one
// at the crossover, where the two cost nearly the same and the bound of
// k + inventory pages + 10 requests leaves the least room.
func TestAnIncrementalPassAtTheCrossoverStaysWithinItsBound(t *testing.T) {
	const people, pages = 20000, 20000 / listPage
	const users = pages + 2
	f := newFake(t)
	f.provisioned(people, e164)
	// The directory holds 22 of the people: the snapshot, not the
	// directory, tells the client how many people a listing reads. The
	// first pass, which sets the checkpoint, reads one of them.
	src := &changingSource{}
	for j := range users {
		i := j * people / users
		src.users = append(src.users, licensing.DirectoryUser{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i),
			DisplayName: fmt.Sprintf("User %d", i), WorkPhone: e164(i), Enabled: true})
	}
	dir := t.TempDir()
	store, err := pass.OpenStore(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run := func(t *testing.T, src pass.Source, id string, want int) {
		res, err := pass.Execute(context.Background(), pass.Options{
			Policy: &licensing.Policy{Templates: []licensing.Template{{Name: "calling", Licences: []licensing.LicenceRef{{ID: "CALL"}}}}},
			Source: src, Target: f.client(t, Options{}), Store: store, Mode: pass.Apply, SourceKey: "test",
			ReportDir: filepath.Join(dir, "reports"), BatchSize: 500, RunID: id,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Writes != 0 || res.Summary.Outcomes[string(licensing.AlreadyProvisioned)] != want {
			t.Fatalf("%s: %d writes, %v; want %d users already provisioned", id, res.Writes, res.Summary.Outcomes, want)
		}
	}
	run(t, &changingSource{users: src.users[:1]}, "RUN-1", 1)
	tests := []struct {
		name    string
		changed int
		listed  bool
	}{
		{fmt.Sprintf("%d changed users are looked up: a listing is reckoned at %d pages", pages+1, pages+1), pages + 1, false},
		{fmt.Sprintf("%d changed users are found by listing the people in %d pages", pages+2, pages), pages + 2, true},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src.changed = nil
			for j := range tc.changed {
				src.changed = append(src.changed, j)
			}
			f.Mu.Lock()
			f.Log = nil
			f.Mu.Unlock()
			run(t, src, fmt.Sprintf("RUN-%d", n+2), tc.changed)
			all, lookups, listPages := f.requests()
			inventory := len(f.Calls("GET", "/telephony/config/numbers"))
			if bound := tc.changed + inventory + 10; all > bound {
				t.Errorf("%d requests, over %d (changed users + %d inventory pages + 10)", all, bound, inventory)
			}
			if tc.listed && (listPages != people/listPage || lookups != 0) || !tc.listed && (listPages != 0 || lookups != tc.changed) {
				t.Errorf("%d people pages and %d look-ups", listPages, lookups)
			}
			t.Logf("%d requests: %d people pages, %d look-ups, %d inventory pages", all, listPages, lookups, inventory)
		})
	}
}
