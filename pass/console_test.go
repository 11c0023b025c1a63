package pass

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

func ids(us []StoredUser) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.SourceID
	}
	return out
}

func TestFindUsersSearchesFiltersSortsAndPages(t *testing.T) {
	eachStore(t, testFindUsersSearchesFiltersSortsAndPages)
}

func testFindUsersSearchesFiltersSortsAndPages(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	d.passAt(t, Apply, "RUN-1", time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	tests := []struct {
		name      string
		q         UserQuery
		wantIDs   []string // nil: only the total is checked
		wantTotal int
	}{
		{"an email part finds its user", UserQuery{Search: "USER07@", Limit: 10}, []string{"u07"}, 1},
		{"a name part finds its users, in email order", UserQuery{Search: "demo user 0", Limit: 3}, []string{"u01", "u02", "u03"}, 9},
		{"a number written with spaces finds the E.164 number", UserQuery{Search: "212 555 0105", Limit: 10}, []string{"u05"}, 1},
		{"a source id finds its user", UserQuery{Search: "u12", Limit: 10}, []string{"u12"}, 1},
		{"a number that is not E.164 is found by its digits", UserQuery{Search: "212-555-0118", Limit: 10}, []string{"u18"}, 1},
		{"a wildcard is searched as itself", UserQuery{Search: "%", Limit: 10}, nil, 0},
		{"markup in a name is searched as text", UserQuery{Search: "=HYPERLINK(", Limit: 10}, []string{"u32"}, 1},
		{"the outcome filter keeps only that outcome", UserQuery{Outcome: "FAILED", Cause: "WEBEX_USER_NOT_FOUND", Limit: 10}, []string{"u21"}, 1},
		{"a second page starts where the first ended", UserQuery{Sort: "email", Offset: 2, Limit: 2}, []string{"u02", "u03"}, 34},
		{"descending order starts at the end", UserQuery{Sort: "email", Desc: true, Limit: 1}, []string{"u34"}, 34},
		{"an unknown sort key sorts by email", UserQuery{Sort: "email; DROP TABLE users", Limit: 1}, []string{"u14"}, 34},
		{"sorting by failure age puts the users who never failed first", UserQuery{Outcome: "FAILED", Sort: "since", Limit: 1}, nil, 16},
	}
	// Both ways a page is read give the same users: sorting the matches
	// of a narrow search, walking the sort order for a broad one.
	defer func(n int) { broadSearch = n }(broadSearch)
	for _, broad := range []int{broadSearch, 0} {
		broadSearch = broad
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s, broad above %d matches", tc.name, broad), func(t *testing.T) {
				got, total, err := d.store.FindUsers(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if total != tc.wantTotal || (tc.wantIDs != nil && !slices.Equal(ids(got), tc.wantIDs)) {
					t.Fatalf("got %v of %d, want %v of %d", ids(got), total, tc.wantIDs, tc.wantTotal)
				}
			})
		}
	}
}

func TestAUsersHistoryHoldsEachChangeOfTheirDecisionAndOnlyThose(t *testing.T) {
	eachStore(t, testAUsersHistoryHoldsEachChangeOfTheirDecisionAndOnlyThose)
}

func testAUsersHistoryHoldsEachChangeOfTheirDecisionAndOnlyThose(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	ctx := context.Background()
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, Apply, "RUN-1", t1)
	d.passAt(t, Apply, "RUN-2", t1.Add(time.Hour))
	// u24's number loses digits: a new cause in the third pass.
	edit(t, d.cfg.Source.File.Path, "u24,user24@corp.example,Demo User 24,+12125550199", "u24,user24@corp.example,Demo User 24,+1212555")
	d.passAt(t, Apply, "RUN-3", t1.Add(2*time.Hour))

	h, err := d.store.UserHistory(ctx, "u24", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].RunID != "RUN-3" || h[0].Cause != string(licensing.CauseInvalidE164) || !h[0].At.Equal(t1.Add(2*time.Hour)) ||
		h[1].RunID != "RUN-1" || h[1].WorkPhone != "+12125550199" {
		t.Fatalf("u24's history = %+v, want the change in RUN-3 and the first decision in RUN-1", h)
	}
	if h, _ := d.store.UserHistory(ctx, "u21", 10); len(h) != 1 || h[0].RunID != "RUN-1" {
		t.Fatalf("u21's history = %+v, want only the first decision: the later passes decided the same", h)
	}
	if h, _ := d.store.UserHistory(ctx, "u01", 10); len(h) != 2 || h[0].Outcome != "ALREADY_PROVISIONED" || h[0].RunID != "RUN-2" {
		t.Fatalf("u01's history = %+v, want PROVISIONED then ALREADY_PROVISIONED from RUN-2 on", h)
	}

	// Keeping one pass keeps u24's change in it, and each other user's
	// latest decision although its pass is gone.
	if _, err := d.store.PruneRuns(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if h, _ := d.store.UserHistory(ctx, "u24", 10); len(h) != 1 || h[0].RunID != "RUN-3" {
		t.Fatalf("u24's history after pruning = %+v, want only RUN-3's decision", h)
	}
	if h, _ := d.store.UserHistory(ctx, "u21", 10); len(h) != 1 || h[0].RunID != "RUN-1" {
		t.Fatalf("u21's history after pruning = %+v, want the decision it still stands on", h)
	}
}

func TestFailuresByCauseCountsEachCauseWithItsOldestFailure(t *testing.T) {
	eachStore(t, testFailuresByCauseCountsEachCauseWithItsOldestFailure)
}

func testFailuresByCauseCountsEachCauseWithItsOldestFailure(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, Apply, "RUN-1", t1)
	edit(t, d.cfg.Source.File.Path, "u24,user24@corp.example,Demo User 24,+12125550199", "u24,user24@corp.example,Demo User 24,+1212555")
	d.passAt(t, Apply, "RUN-2", t1.Add(time.Hour))
	got, err := d.store.FailuresByCause(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.store.StandingFailures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, c := range got {
		sum += c.Users
		if c.Users != st.Causes[c.Cause] || !c.Oldest.Equal(t1) {
			t.Errorf("%s: %d users since %s, want %d since %s", c.Cause, c.Users, c.Oldest, st.Causes[c.Cause], t1)
		}
	}
	if sum != st.Total || got[0].Cause != licensing.CauseInvalidE164 {
		t.Fatalf("causes = %+v, want all %d standing failures, the most common cause first", got, st.Total)
	}
}

func TestRunTrafficIsKeptPerPassAndPrunedWithIt(t *testing.T) {
	eachStore(t, testRunTrafficIsKeptPerPassAndPrunedWithIt)
}

func testRunTrafficIsKeptPerPassAndPrunedWithIt(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	ctx := context.Background()
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, Apply, "RUN-1", t1)
	d.passAt(t, Apply, "RUN-2", t1.Add(time.Hour))
	for _, id := range []string{"RUN-1", "RUN-2"} {
		if err := d.store.RecordTraffic(ctx, id, "target", Traffic{Requests: 10, Retries: 2, Throttled: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.store.RecordTraffic(ctx, "NEVER-BEGAN", "target", Traffic{Requests: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.store.PruneRuns(ctx, 1); err != nil {
		t.Fatal(err)
	}
	got, err := d.store.RunTraffic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["RUN-2"]["target"] != (Traffic{Requests: 10, Retries: 2, Throttled: 1}) {
		t.Fatalf("traffic = %+v, want only RUN-2's: RUN-1's is pruned and a pass the store never held keeps none", got)
	}
}

func TestAStoreUpgradedToTheConsoleSchemaStartsEachUsersHistory(t *testing.T) {
	s, _ := openPreVersioningStore(t)
	h, err := s.UserHistory(context.Background(), "u1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].RunID != "OLD-1" || h[0].Cause != "WEBEX_USER_NOT_FOUND" || !h[0].At.Equal(time.Date(2026, 11, 30, 8, 0, 0, 250e6, time.UTC)) {
		t.Fatalf("u1's history after the upgrade = %+v, want the stored decision from OLD-1", h)
	}
}
