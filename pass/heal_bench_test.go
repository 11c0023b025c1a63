package pass

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

// countingOrg is a calling organisation in memory that counts the requests
// the Webex target would send for the same work: one per person looked up,
// one per change, and one for the snapshot.
type countingOrg struct {
	mu       sync.Mutex
	org      *licensing.Org
	people   map[string]licensing.Person
	requests atomic.Int64
}

func (c *countingOrg) Snapshot(context.Context) (*licensing.Org, error) {
	c.requests.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := &licensing.Org{Locations: maps.Clone(c.org.Locations), Licences: maps.Clone(c.org.Licences)}
	for n := range c.org.Numbers.All() {
		snap.Numbers.Set(n)
	}
	return snap, nil
}

func (c *countingOrg) People(_ context.Context, emails []string) (map[string]licensing.Person, error) {
	c.requests.Add(int64(len(emails)))
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]licensing.Person{}
	for _, e := range emails {
		if p, ok := c.people[e]; ok {
			out[e] = p
		}
	}
	return out, nil
}

func (c *countingOrg) Apply(_ context.Context, changes []licensing.Change) ([]error, error) {
	c.requests.Add(int64(len(changes)))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		p := c.people[ch.Email]
		p.Licences = append(p.Licences, ch.Licences...)
		p.PhoneNumber, p.LocationID = ch.PhoneNumber, ch.LocationID
		c.people[ch.Email] = p
		c.org.Reserve(ch)
	}
	return make([]error, len(changes)), nil
}

func (c *countingOrg) Close() error { return nil }

// healBench is a directory of n users of whom one in twenty stands failed
// on a cause the Webex side clears (half without a person, the rest on the
// number's inventory, owner or location), after one full run at t0.
type healBench struct {
	src   *changesSource
	tgt   *countingOrg
	store *Store
	dir   string
	pol   *licensing.Policy
	t0    time.Time
}

func newHealBench(b *testing.B, n int) *healBench {
	b.Helper()
	h := &healBench{src: &changesSource{}, dir: b.TempDir(), t0: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		pol: &licensing.Policy{Templates: []licensing.Template{{Name: "calling", Licences: []licensing.LicenceRef{{ID: "LIC-PRO"}}}}}}
	org := licensing.NewOrg()
	org.Locations["LOC-1"] = licensing.Location{ID: "LOC-1", Name: "New York", CallingEnabled: true}
	org.Locations["LOC-LAB"] = licensing.Location{ID: "LOC-LAB", Name: "Lab"}
	org.Licences["LIC-PRO"] = licensing.Licence{ID: "LIC-PRO", Name: "Webex Calling - Professional", SubscriptionID: "SUB-1", TotalUnits: 2 * n, Status: licensing.StatusActive}
	h.tgt = &countingOrg{org: org, people: map[string]licensing.Person{}}
	for i := range n {
		u := licensing.DirectoryUser{ID: fmt.Sprintf("u%07d", i), Email: fmt.Sprintf("user%07d@corp.example", i), DisplayName: fmt.Sprintf("User %07d", i),
			WorkPhone: fmt.Sprintf("+1212%03d%04d", 201+i/10000, i%10000), Enabled: true}
		h.src.users = append(h.src.users, u)
		num := licensing.Number{E164: u.WorkPhone, Extension: fmt.Sprint(100000 + i), LocationID: "LOC-1"}
		person := true
		if i%20 == 0 {
			switch (i / 20) % 10 {
			case 0, 1, 2, 3, 4:
				person = false
			case 5, 6:
				num.E164 = ""
			case 7, 8:
				num.OwnerType, num.OwnerID = licensing.OwnerPlace, "WS-"+u.ID
			case 9:
				num.LocationID = "LOC-LAB"
			}
		}
		if person {
			h.tgt.people[u.Email] = licensing.Person{ID: fmt.Sprintf("P%07d", i), Email: u.Email}
		}
		if num.E164 != "" {
			org.Numbers.Set(num)
		}
	}
	var err error
	if h.store, err = OpenStore(filepath.Join(h.dir, "state.db")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.store.Close() })
	res := h.pass(b, h.t0)
	if got := res.Summary.Outcomes[string(licensing.Failed)]; got != n/20 {
		b.Fatalf("the first run failed %d users, want %d", got, n/20)
	}
	return h
}

func (h *healBench) pass(b *testing.B, at time.Time) *Result {
	b.Helper()
	res, err := Execute(context.Background(), Options{
		Policy: h.pol, Source: h.src, Target: h.tgt, Store: h.store, Mode: Apply, SourceKey: "bench",
		ReportDir: filepath.Join(h.dir, "reports"), Now: func() time.Time { return at },
	})
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchmarkIncrementalPassWithStandingFailures runs incremental passes of
// 100 changed users over 100,000, of whom 5,000 stand failed, through a
// target that counts the requests Webex would take: first while the
// failures are young (every person missing is looked up every pass), then
// once the backoff has settled (each is looked up once a day):
//
//	go test ./pass -run '^$' -bench IncrementalPassWithStandingFailures -benchtime 10x
func BenchmarkIncrementalPassWithStandingFailures(b *testing.B) {
	const users, changes = 100_000, 100
	h := newHealBench(b, users)
	// The changed users are provisioned ones whose display name changes.
	for i := range changes {
		u := h.src.users[20*i+1]
		u.DisplayName += " (renamed)"
		h.src.changed = append(h.src.changed, u)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"young failures", h.t0.Add(5 * time.Minute)},
		{"backoff settled", h.t0.Add(48 * time.Hour)},
	} {
		if tc.name == "backoff settled" {
			// The pass that finds them two days old looks them all up and
			// puts the next look-up a day ahead.
			h.pass(b, tc.at)
			tc.at = tc.at.Add(5 * time.Minute)
		}
		b.Run(tc.name, func(b *testing.B) {
			var fed int
			before := h.tgt.requests.Load()
			for b.Loop() {
				res := h.pass(b, tc.at)
				fed = res.Summary.Users - changes
			}
			b.ReportMetric(float64(h.tgt.requests.Load()-before)/float64(b.N), "requests/op")
			b.ReportMetric(float64(fed), "healing-fed/op")
		})
	}
}

// BenchmarkQuietIncrementalPass runs incremental passes in which nothing
// changed over 100,000 stored users, 5,000 of whom stand failed with their
// backoff settled, through the whole pass: snapshot, healing, the store's
// side, reports and checkpoint. "count of users" is the yardstick of the
// same run: one indexed SELECT COUNT(*) of the stored users.
//
//	go test ./pass -run '^$' -bench QuietIncrementalPass -benchtime 10x
func BenchmarkQuietIncrementalPass(b *testing.B) {
	const users = 100_000
	h := newHealBench(b, users)
	at := h.t0.Add(48 * time.Hour)
	h.pass(b, at)
	at = at.Add(5 * time.Minute)
	b.Run("pass", func(b *testing.B) {
		before := h.tgt.requests.Load()
		for b.Loop() {
			if res := h.pass(b, at); res.Summary.Users != 0 {
				b.Fatalf("a quiet pass decided %d users", res.Summary.Users)
			}
		}
		b.ReportMetric(float64(h.tgt.requests.Load()-before)/float64(b.N), "requests/op")
	})
	b.Run("count of users", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := h.store.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM users").Scan(&n); err != nil || n != users {
				b.Fatalf("counted %d users: %v", n, err)
			}
		}
	})
}
