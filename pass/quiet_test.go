package pass

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

func TestAnIncrementalPassCountsTheStoredHoldersOfItsNumbersAndEmailsAsAFullReadWould(t *testing.T) {
	eachStore(t, testAnIncrementalPassCountsTheStoredHolders)
}

func testAnIncrementalPassCountsTheStoredHolders(t *testing.T, k storeKind) {
	user := func(id, email, phone string) licensing.DirectoryUser {
		return licensing.DirectoryUser{ID: id, Email: email, WorkPhone: phone, Enabled: true, Groups: []string{"Calling Users"}}
	}
	tests := []struct {
		name    string
		stored  licensing.DirectoryUser
		changed licensing.DirectoryUser
		// cause is the changed user's; none means licensed.
		cause licensing.Cause
	}{
		{"an email in another case is the same email",
			user("u01", "User01@Corp.Example", ""), user("u40", "user01@corp.example", "+12125550101"), licensing.CauseDuplicateEmail},
		{"an email with spaces around it is the same email",
			user("u01", "  user01@corp.example ", ""), user("u40", "USER01@corp.example", "+12125550101"), licensing.CauseDuplicateEmail},
		{"an email with a tab around it is the same email",
			user("u01", "\tuser01@corp.example", ""), user("u40", "user01@corp.example", "+12125550101"), licensing.CauseDuplicateEmail},
		{"an email with capitals beyond ASCII is the same email",
			user("u01", "ÉVA@corp.example", ""), user("u40", "éva@corp.example", "+12125550101"), licensing.CauseDuplicateEmail},
		{"an email with the Kelvin sign is the one with a k",
			user("u01", "\u212Aim@corp.example", ""), user("u40", "kim@corp.example", "+12125550101"), licensing.CauseDuplicateEmail},
		{"an email with a longer domain is another email",
			user("u01", "user01@corp.example.org", ""), user("u40", "user01@corp.example", "+12125550101"), ""},
		{"a number a stored user carries is claimed twice",
			user("u01", "user01@corp.example", "+1 212 555 0101"), user("u40", "user02@corp.example", "+12125550101"), licensing.CauseNumberClaimedTwice},
		{"a number no stored user carries is claimed once",
			user("u01", "user01@corp.example", "+12125550102"), user("u40", "user02@corp.example", "+12125550101"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemoOn(t, k, nil)
			pass := slicePasses(t, d)
			pass("RUN-1", tc.stored)
			got := pass("RUN-2", tc.changed)
			want := string(licensing.Failed)
			if tc.cause == "" {
				want = string(licensing.Provisioned)
			}
			if r := got["u40"]; r.Outcome != want || r.Cause != string(tc.cause) {
				t.Fatalf("u40 = %+v, want %s %s", r, want, tc.cause)
			}
		})
	}
}

func TestAnIncrementalPassLooksUpTheStoredHoldersInIndexes(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keyed, odd := emailQueries(sqliteDialect)
	for _, q := range []string{claimsQuery + "?,?)", keyed + "?,?)", odd} {
		var args []any
		if strings.HasSuffix(q, "?,?)") {
			args = []any{"x", "y"}
		}
		rows, err := s.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) != 1 || !strings.Contains(plan[0], " USING INDEX users_e") {
			t.Errorf("%s reads %q, want one index of users", q, plan)
		}
	}
}

func TestAPassReadsOnlyTheStandingFailuresDueAgain(t *testing.T) {
	eachStore(t, testAPassReadsOnlyTheStandingFailuresDueAgain)
}

func testAPassReadsOnlyTheStandingFailuresDueAgain(t *testing.T, k storeKind) {
	s := k.open(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		id    string
		cause licensing.Cause
		next  string
	}{
		{"a-looked-up-a-moment-ago-due-before-now", licensing.CauseWebexUserNotFound, storeTime(now.Add(-time.Millisecond))},
		{"b-due-now", licensing.CauseWebexUserNotFound, storeTime(now)},
		{"c-due-a-moment-later", licensing.CauseAPIError, storeTime(now.Add(time.Millisecond))},
		{"d-never-looked-up", licensing.CauseAPIError, ""},
		{"e-due-tomorrow", licensing.CauseWebexUserNotFound, storeTime(now.Add(24 * time.Hour))},
		{"f-blocked-number", licensing.CauseNumberNotProvisioned, ""},
		{"g-no-units-with-a-stray-look-up", licensing.CauseLicenceUnavailable, storeTime(now.Add(time.Hour))},
		{"h-not-healable", licensing.CauseNoWorkPhone, ""},
	} {
		if _, err := s.db.ExecContext(ctx, "INSERT INTO users ("+rowCols+", run_id, next_lookup) VALUES (?,'','','','','FAILED',?,'','','','','RUN-1',?)",
			f.id, string(f.cause), f.next); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.dueFailures(ctx, licensing.HealableCauses, now, func(f *Failure) error { got = append(got, f.SourceID); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"a-looked-up-a-moment-ago-due-before-now", "b-due-now", "d-never-looked-up", "f-blocked-number", "g-no-units-with-a-stray-look-up"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("due failures = %q, want %q", got, want)
	}
	if n, err := s.standingFailures(ctx, licensing.HealableCauses); err != nil || n != 7 {
		t.Errorf("standing failures = %d (%v), want 7", n, err)
	}
}
