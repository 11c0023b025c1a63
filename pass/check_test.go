package pass

import (
	"context"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

func TestCheckAfterAQuietIncrementalPassCountsTheStandingFailures(t *testing.T) {
	eachStore(t, testCheckAfterAQuietIncrementalPassCountsTheStandingFailures)
}

func testCheckAfterAQuietIncrementalPassCountsTheStandingFailures(t *testing.T, k storeKind) {
	ctx := context.Background()
	h := newHealDemoOn(t, k)
	stored, err := h.store.StandingFailures(ctx)
	if err != nil || stored.Total != 17 || stored.Causes[licensing.CauseAPIError] != 1 {
		t.Fatalf("stored failures = %+v, %v; want 17 with u01's API_ERROR", stored, err)
	}
	at := h.t0.Add(5 * time.Minute)
	tests := []struct {
		name          string
		mode          Mode
		before        time.Time
		total, refuse int
		pending       int
	}{
		// The plan would write u01 now that the target takes it: pending, no
		// longer failing; the 16 others stand, the oldest from the first run.
		{"a quiet plan", PlanOnly, time.Time{}, 16, 0, 1},
		{"a quiet plan ignoring failures younger than an hour", PlanOnly, at.Add(-time.Hour), 0, 0, 1},
		{"a quiet plan counting failures at least five minutes old", PlanOnly, at.Add(-5 * time.Minute), 16, 0, 1},
		{"a quiet run that is refused u01 again", Apply, time.Time{}, 17, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.tgt.on = tc.refuse > 0
			res := h.pass(t, tc.mode, tc.name, at)
			if res.Summary.Users != 2 {
				t.Fatalf("the quiet pass decided %d users, want u01 and u21 fed again", res.Summary.Users)
			}
			st, err := Check(ctx, h.store, res, tc.before)
			if err != nil {
				t.Fatal(err)
			}
			if st.Total != tc.total || st.Pending != tc.pending || st.Causes[licensing.CauseAPIError] != tc.refuse {
				t.Fatalf("check = %+v, want %d failing (%d API_ERROR), %d pending", st, tc.total, tc.refuse, tc.pending)
			}
			if tc.total > 0 && !st.Oldest.Equal(h.t0) {
				t.Fatalf("oldest failure began %s, want %s", st.Oldest, h.t0)
			}
		})
	}
}

func TestCheckAfterAQuietIncrementalPassIsCleanWithNothingFailing(t *testing.T) {
	ctx := context.Background()
	h := newHealDemo(t)
	// A second store whose first run read only u02..u11, who all get Calling.
	store, err := OpenStore(h.cfg.State + ".clean")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	h.store = store
	h.tgt.on = false
	h.src.users = h.src.users[1:11]
	if res := h.pass(t, Apply, "FULL", h.t0.Add(time.Minute)); res.Summary.Outcomes[string(licensing.Failed)] != 0 {
		t.Fatalf("the clean run = %+v", res.Summary)
	}
	for _, mode := range []Mode{PlanOnly, Apply} {
		res := h.pass(t, mode, "QUIET-"+string(mode), h.t0.Add(5*time.Minute))
		st, err := Check(ctx, h.store, res, time.Time{})
		if err != nil || st.Total != 0 || st.Pending != 0 {
			t.Fatalf("%s: check = %+v, %v; want nothing failing or pending", mode, st, err)
		}
	}
}
