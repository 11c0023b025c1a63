package pass

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/sources/file"
)

// stored returns the state store's latest decisions by source id.
func stored(t *testing.T, s *Store) map[string]Row {
	t.Helper()
	out := map[string]Row{}
	if err := s.Rows(context.Background(), "", func(r Row) error { out[r.SourceID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// editDirectory rewrites the demo directory: each line that starts with a
// key of lines is replaced by its value ("" drops the line).
func (d *demo) editDirectory(t *testing.T, lines map[string]string) {
	t.Helper()
	path := d.cfg.Source.File.Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		for prefix, repl := range lines {
			if strings.HasPrefix(l, prefix) {
				l = repl
				if repl != "" {
					l += "\n"
				}
			}
		}
		out = append(out, l)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logged runs a pass with its log observed.
func (d *demo) logged(mode Mode, id string) (*Result, *observer.ObservedLogs, error) {
	core, logs := observer.New(zap.InfoLevel)
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	res, err := Execute(context.Background(), Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: mode, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
		Now: func() time.Time { return clock }, RunID: id, Log: zap.New(core),
	})
	return res, logs, err
}

func TestAPassWithABrokenRowForgetsNobody(t *testing.T) {
	tests := []struct {
		name string
		// broken replaces one user's row; u34 leaves the directory too.
		broken, id, detail string
	}{
		{"an unterminated quote", `u20,user20@corp.example,"Demo User 20,+999 1234567,true,Calling Users`, "u20",
			`line 21: a quote opened on this line is not closed on it`},
		{"a bad enabled value", "u05,user05@corp.example,Demo User 05,+1 212 555 0105,maybe,Calling Users", "u05",
			`line 6: enabled is "maybe", want true or false`},
		{"a field too many", "u07,user07@corp.example,Demo, User 07,+1 212 555 0107,true,Calling Users", "u07",
			"line 8: has 7 fields, the header has 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t)
			d.pass(t, Apply, "RUN-1")
			before := stored(t, d.store)
			if len(before) != 34 {
				t.Fatalf("the first pass stored %d users, want 34", len(before))
			}
			d.editDirectory(t, map[string]string{tc.id + ",": tc.broken, "u34,": ""})
			res, logs, err := d.logged(Apply, "RUN-2")
			if err != nil {
				t.Fatal(err)
			}
			after := stored(t, d.store)
			if len(after) != 34 {
				t.Fatalf("after a pass with a broken row the store holds %d users, want all 34", len(after))
			}
			if r := after[tc.id]; r.Outcome != string(licensing.Failed) || r.Cause != string(licensing.CauseUnreadableRecord) || !strings.HasPrefix(r.Detail, tc.detail) {
				t.Fatalf("%s = %+v, want FAILED %s %q", tc.id, r, licensing.CauseUnreadableRecord, tc.detail)
			}
			if after["u34"] != before["u34"] {
				t.Fatalf("u34, gone from the directory, changed to %+v though the pass could not read every record", after["u34"])
			}
			if res.Summary.Users != 33 {
				t.Fatalf("the pass decided %d users, want the 33 rows", res.Summary.Users)
			}
			if w := logs.FilterMessageSnippet("no user is forgotten this pass").All(); len(w) != 1 || w[0].ContextMap()["unreadable"] != int64(1) {
				t.Fatalf("the pass did not log why it forgot nobody: %v", logs.All())
			}

			// Once the row is fixed, the next pass forgets the user who left.
			d.editDirectory(t, map[string]string{tc.id + ",": strings.Join([]string{before[tc.id].SourceID, before[tc.id].Email, before[tc.id].DisplayName, before[tc.id].WorkPhone, "true", "Calling Users"}, ",")})
			d.pass(t, Apply, "RUN-3")
			if final := stored(t, d.store); len(final) != 33 || final["u34"].SourceID != "" {
				t.Fatalf("after a clean pass the store holds %d users (u34 %+v), want 33 without u34", len(final), final["u34"])
			}
		})
	}
}

func TestARowWithoutAnIDFailsThePassBeforeAnythingIsWritten(t *testing.T) {
	d := newDemo(t)
	d.editDirectory(t, map[string]string{"u20,": ",user20@corp.example,Demo User 20,+999 1234567,true,Calling Users"})
	_, err := d.try(Apply, "RUN-1")
	if err == nil || !strings.Contains(err.Error(), "directory.csv:21: id is empty") {
		t.Fatalf("err = %v, want the pass stopped naming the file and line", err)
	}
	ctx := context.Background()
	if n, _ := d.org.Writes(ctx); n != 0 {
		t.Fatalf("the failed pass made %d writes", n)
	}
	if n := len(stored(t, d.store)); n != 0 {
		t.Fatalf("the failed pass recorded %d users", n)
	}
	if r, _ := d.store.Run(ctx, "RUN-1"); r.Status != "failed" {
		t.Fatalf("the pass is recorded %q, want failed", r.Status)
	}
}

// rowsOf returns every row of a report with the source id.
func rowsOf(t *testing.T, dir, id string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, r := range recs {
		if r[0] == id {
			out = append(out, r)
		}
	}
	return out
}

func TestRecordsSharingAnIDOrAnEmailAllFailAndNothingIsApplied(t *testing.T) {
	tests := []struct {
		name   string
		extra  string
		ids    []string
		cause  licensing.Cause
		detail string
		// person keeps no licence, and writes is what the pass applies.
		person string
		writes int
	}{
		{"two rows with one id", "u05,other05@corp.example,Other 05,+12125550140,true,Calling Users",
			[]string{"u05", "u05"}, licensing.CauseDuplicateID, "2 directory records carry id u05", "user05@corp.example", 12},
		{"two rows with one email in another case", "u40,USER06@Corp.Example,Dup 06,+1 212 555 0106,true,Calling Users",
			[]string{"u06", "u40"}, licensing.CauseDuplicateEmail, "2 directory records carry email user06@corp.example (compared without case)", "user06@corp.example", 12},
		{"a disabled account and an enabled one with one email", "u41,user13@corp.example,New 13,+12125550141,true,Calling Users",
			[]string{"u13", "u41"}, licensing.CauseDuplicateEmail, "2 directory records carry email user13@corp.example (compared without case)", "user13@corp.example", 13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemoWith(t, func(name, content string) string {
				if name == "directory.csv" {
					return content + tc.extra + "\n"
				}
				return content
			})
			res := d.pass(t, Apply, "RUN-1")
			var got []string
			for _, id := range slices.Compact(slices.Clone(tc.ids)) {
				for _, r := range rowsOf(t, res.ReportDir, id) {
					got = append(got, r[0])
					if r[5] != string(licensing.Failed) || r[6] != string(tc.cause) || r[7] != tc.detail {
						t.Errorf("%s = %q, want FAILED %s %q", id, r, tc.cause, tc.detail)
					}
				}
			}
			if !slices.Equal(got, tc.ids) {
				t.Fatalf("report rows %v, want %v", got, tc.ids)
			}
			people, err := d.org.People(context.Background(), []string{tc.person})
			if err != nil {
				t.Fatal(err)
			}
			if p := people[tc.person]; len(p.Licences) != 0 {
				t.Fatalf("%s got %v: a duplicate record was applied", tc.person, p.Licences)
			}
			if n, _ := d.org.Writes(context.Background()); res.Writes != tc.writes || n != tc.writes {
				t.Fatalf("the pass reports %d writes and the org counts %d, want %d", res.Writes, n, tc.writes)
			}
		})
	}
}

// sliceSource is a directory whose every pass after the first is
// incremental: it streams the users it holds at that moment.
type sliceSource struct{ users []licensing.DirectoryUser }

func (s *sliceSource) Users(_ context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	for _, u := range s.users {
		if err := emit(u); err != nil {
			return "", false, err
		}
	}
	return "next", since == "", nil
}

func (s *sliceSource) Close() error { return nil }

func TestAnIncrementalPassFailsARecordWhoseEmailAStoredUserOfAnotherIDHolds(t *testing.T) {
	eachStore(t, testAnIncrementalPassFailsARecordWhoseEmailAStoredUserOfAnotherIDHolds)
}

func testAnIncrementalPassFailsARecordWhoseEmailAStoredUserOfAnotherIDHolds(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	pass := slicePasses(t, d)
	user := func(id, email, phone string) licensing.DirectoryUser {
		return licensing.DirectoryUser{ID: id, Email: email, WorkPhone: phone, Enabled: true, Groups: []string{"Calling Users"}}
	}
	if got := pass("RUN-1", user("u01", "user01@corp.example", "")); got["u01"].Cause != string(licensing.CauseNoWorkPhone) {
		t.Fatalf("full pass: u01 = %+v", got["u01"])
	}
	got := pass("RUN-2", user("u40", "USER01@corp.example", "+12125550101"))
	if r := got["u40"]; r.Cause != string(licensing.CauseDuplicateEmail) || r.Detail != "2 directory records carry email user01@corp.example (compared without case)" {
		t.Fatalf("incremental pass: u40 = %+v, want DUPLICATE_EMAIL with the stored u01", r)
	}
	if n, _ := d.org.Writes(context.Background()); n != 0 {
		t.Fatalf("the duplicate was applied (%d writes)", n)
	}
	if got := pass("RUN-3", user("u01", "user01@corp.example", "+12125550101")); got["u01"].Cause != string(licensing.CauseDuplicateEmail) {
		t.Fatalf("u01 read again while u40 holds its email: %+v", got["u01"])
	}
	if got := pass("RUN-4", user("u01", "user01@corp.example", "+12125550101")); got["u01"].Cause != string(licensing.CauseDuplicateEmail) {
		t.Fatalf("u01 read again alone while the stored u40 holds its email: %+v", got["u01"])
	}
	removed := user("u40", "USER01@corp.example", "")
	removed.Removed = true
	if got := pass("RUN-5", removed, user("u01", "user01@corp.example", "+12125550101")); got["u01"].Outcome != string(licensing.Provisioned) {
		t.Fatalf("once u40 left, u01 = %+v, want PROVISIONED", got["u01"])
	}
}

// staleView is the offline org whose people look-ups show nobody's
// licences: every decision is made on a view older than the org.
type staleView struct{ *offline.Org }

func (s staleView) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	people, err := s.Org.People(ctx, emails)
	for k, p := range people {
		p.Licences, p.PhoneNumber, p.LocationID = nil, "", ""
		people[k] = p
	}
	return people, err
}

// silent is the offline org that answers Apply with nothing at all.
type silent struct{ *offline.Org }

func (silent) Apply(context.Context, []licensing.Change) ([]error, error) { return nil, nil }

func TestOnlyAChangeTheTargetMadeIsReportedProvisioned(t *testing.T) {
	tests := []struct {
		name   string
		target func(*offline.Org) Target
		first  bool
		detail string
	}{
		{"a change the org already holds", func(o *offline.Org) Target { return staleView{o} }, true, "nothing was changed: person P-01 already holds LIC-PRO"},
		{"a change the target gave no answer for", func(o *offline.Org) Target { return silent{o} }, false, "the target gave no answer for this change"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t)
			if tc.first {
				d.pass(t, Apply, "RUN-1")
			}
			ctx := context.Background()
			before, _ := d.org.Writes(ctx)
			clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			res, err := Execute(ctx, Options{
				Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: tc.target(d.org), Store: d.store,
				Mode: Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
				Now: func() time.Time { return clock }, RunID: "RUN-2",
			})
			if err != nil {
				t.Fatal(err)
			}
			after, _ := d.org.Writes(ctx)
			if n := res.Summary.Outcomes[string(licensing.Provisioned)]; n != 0 || res.Writes != 0 || after != before {
				t.Fatalf("%d reported PROVISIONED, %d writes, org audit %d -> %d: nothing was changed", n, res.Writes, before, after)
			}
			row := rowOf(t, res.ReportDir, "u01")
			if row[5] != string(licensing.Failed) || row[6] != string(licensing.CauseAPIError) || !strings.Contains(row[7], tc.detail) {
				t.Fatalf("u01 = %q, want FAILED API_ERROR %q", row, tc.detail)
			}
		})
	}
}

// failingLookUps is the offline org whose people look-up fails the emails
// fail says so for, as a target answering some look-ups 500 would.
type failingLookUps struct {
	*offline.Org
	fail func(email string) bool
}

func (f failingLookUps) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	var ok []string
	failed := licensing.LookupErrors{}
	for _, e := range emails {
		if f.fail(e) {
			failed[strings.ToLower(e)] = errors.New("HTTP 500: Internal Server Error (trackingId NA_TEST)")
		} else {
			ok = append(ok, e)
		}
	}
	people, err := f.Org.People(ctx, ok)
	if err != nil || len(failed) == 0 {
		return people, err
	}
	return people, failed
}

func TestAFailedLookUpFailsItsUserAndOnlyARunOfThemStopsThePass(t *testing.T) {
	// The demo looks up 24 users, in this order.
	order := []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32"}
	failing := func(n ...string) func(string) bool {
		return func(e string) bool {
			for _, s := range n {
				if e == "user"+s+"@corp.example" {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name    string
		fail    func(string) bool
		failed  int
		stopped string
	}{
		{"one failed look-up", failing("05"), 1, ""},
		{"19 in a row, one answered, then 4 more", failing(slices.Delete(slices.Clone(order), 19, 20)...), 23, ""},
		{"20 in a row", failing(order[:20]...), 0, "20 look-ups in a row failed, the target looks down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t)
			clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			res, err := Execute(context.Background(), Options{
				Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: failingLookUps{d.org, tc.fail}, Store: d.store,
				Mode: Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
				Now: func() time.Time { return clock }, RunID: "RUN-1",
			})
			writes, _ := d.org.Writes(context.Background())
			if tc.stopped != "" {
				if err == nil || !strings.Contains(err.Error(), tc.stopped) || writes != 0 {
					t.Fatalf("err = %v with %d writes, want the pass stopped before writing: %s", err, writes, tc.stopped)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			_ = d.store.Rows(context.Background(), licensing.Failed, func(r Row) error {
				if r.Cause == string(licensing.CauseAPIError) && r.Detail == "looking up the Webex person failed: HTTP 500: Internal Server Error (trackingId NA_TEST)" {
					failed++
				}
				return nil
			})
			if failed != tc.failed {
				t.Fatalf("%d users failed on their look-up, want %d", failed, tc.failed)
			}
			if tc.failed == 1 && (res.Writes != 12 || rowOf(t, res.ReportDir, "u06")[5] != string(licensing.Provisioned)) {
				t.Fatalf("%d writes, want the other 12 provisioned", res.Writes)
			}
		})
	}
}

// slicePasses returns a function that runs an applying pass of the demo
// organisation over the users given, as pass id, and returns what the store
// then holds.
func slicePasses(t *testing.T, d *demo) func(id string, users ...licensing.DirectoryUser) map[string]Row {
	src := &sliceSource{}
	return func(id string, users ...licensing.DirectoryUser) map[string]Row {
		t.Helper()
		src.users = users
		clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if _, err := Execute(context.Background(), Options{
			Policy: d.cfg.Policy(), Source: src, Target: d.org, Store: d.store, Mode: Apply, SourceKey: "slice",
			ReportDir: d.cfg.ReportDir, Now: func() time.Time { return clock }, RunID: id,
		}); err != nil {
			t.Fatal(err)
		}
		return stored(t, d.store)
	}
}

func TestEveryFailureOfAPassIsStoredInOrder(t *testing.T) {
	eachStore(t, testEveryFailureOfAPassIsStoredInOrder)
}

// Failures are stored 64, 8 or 1 to a statement: the two batches here hold
// 2×64+3 and 64+8+2 failures.
func testEveryFailureOfAPassIsStoredInOrder(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	const users = 3*failuresPerInsert + 13
	var src sliceSource
	for i := range users {
		src.users = append(src.users, licensing.DirectoryUser{ID: fmt.Sprintf("u%03d", i), Email: fmt.Sprintf("user%03d@corp.example", i),
			WorkPhone: fmt.Sprintf("not a number %d", i), Enabled: true, Groups: []string{"Calling Users"}})
	}
	for _, mode := range []Mode{PlanOnly, Apply} {
		t.Run(string(mode), func(t *testing.T) {
			id := "PASS-" + string(mode)
			if _, err := d.run(mode, id, func(o *Options) { o.Source, o.BatchSize = &src, 2*failuresPerInsert+3 }); err != nil {
				t.Fatal(err)
			}
			n := 0
			if err := d.store.RunFailures(context.Background(), id, func(r Row) error {
				want := src.users[n]
				if r.SourceID != want.ID || r.Email != want.Email || r.WorkPhone != want.WorkPhone || r.Cause != string(licensing.CauseInvalidE164) || r.Detail == "" {
					t.Errorf("failure %d = %+v, want %s's INVALID_E164", n, r, want.ID)
				}
				n++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != users {
				t.Fatalf("%d failures stored, want %d", n, users)
			}
		})
	}
}
