package pass

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
)

// passAt runs a pass of the demo with the clock at now.
func (d *demo) passAt(t *testing.T, mode Mode, id string, now time.Time) *Result {
	t.Helper()
	res, err := Execute(context.Background(), Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: mode, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
		Now: func() time.Time { return now }, RunID: id,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// orgDB opens the demo's offline organisation beside the target, so a test
// can change what the Webex side would change.
func (d *demo) orgDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+d.cfg.Target.Offline.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqlExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// preVersioningSchema is the store as licensync wrote it before the schema
// had versions.
const preVersioningSchema = `
CREATE TABLE runs (id TEXT PRIMARY KEY, mode TEXT NOT NULL, full INTEGER NOT NULL,
  started TEXT NOT NULL, ended TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}');
CREATE TABLE checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL, run_id TEXT NOT NULL);
CREATE TABLE users (source_id TEXT PRIMARY KEY, email TEXT, display_name TEXT, work_phone TEXT, e164 TEXT,
  outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT, run_id TEXT NOT NULL);
CREATE INDEX users_outcome ON users(outcome);
CREATE TABLE run_failures (run_id TEXT NOT NULL, seq INTEGER NOT NULL, source_id TEXT, email TEXT, display_name TEXT,
  work_phone TEXT, e164 TEXT, outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT,
  PRIMARY KEY (run_id, seq));
INSERT INTO runs (id, mode, full, started, ended, status) VALUES ('OLD-1', 'run', 1, '2026-11-30T08:00:00.25Z', '2026-11-30T08:01:00Z', 'succeeded');
INSERT INTO checkpoints VALUES ('ldap', 'usn:42', 'OLD-1');
INSERT INTO users VALUES ('u1', 'a@corp.example', 'A', '+12125550101', '+12125550101', 'FAILED', 'WEBEX_USER_NOT_FOUND', 'no Webex person', '', '', '', 'OLD-1');
INSERT INTO users VALUES ('u2', 'b@corp.example', 'B', '+12125550102', '+12125550102', 'PROVISIONED', '', '', 'LOC-NYC', 'New York', 'LIC-PRO', 'OLD-1');
`

// openPreVersioningStore writes a store as licensync wrote it before the
// schema had versions, and opens it with this binary, which upgrades it.
func openPreVersioningStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sqlExec(t, db, preVersioningSchema)
	db.Close()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestAStoreFromBeforeVersioningIsUpgradedKeepingEverything(t *testing.T) {
	s, path := openPreVersioningStore(t)
	ctx := context.Background()
	var version int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("user_version = %d (%v), want %d", version, err, len(migrations))
	}
	if cp, _ := s.Checkpoint(ctx, "ldap"); cp != "usn:42" {
		t.Fatalf("checkpoint after the upgrade = %q", cp)
	}
	st, err := s.StandingFailures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Date(2026, 11, 30, 8, 0, 0, 250e6, time.UTC)
	if st.Total != 1 || st.Causes[licensing.CauseWebexUserNotFound] != 1 || !st.Oldest.Equal(began) {
		t.Fatalf("standing after the upgrade = %+v, want one WEBEX_USER_NOT_FOUND failing since the pass that decided it (%s)", st, began)
	}
	var got []Failure
	if err := s.Failures(ctx, []licensing.Cause{licensing.CauseWebexUserNotFound}, func(f *Failure) error { got = append(got, *f); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SourceID != "u1" || got[0].HasRecord || !got[0].FirstSeen.Equal(began) {
		t.Fatalf("failures after the upgrade = %+v, want u1 first seen at %s with no record yet", got, began)
	}
	s.Close()
	// Opening it again applies nothing twice.
	again, err := OpenStore(path)
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	again.Close()
}

func TestAStoreFromANewerLicensyncIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	sqlExec(t, s.db.DB, "PRAGMA user_version = 99")
	s.Close()
	_, err = OpenStore(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer than this licensync knows") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want a refusal naming the store and its version", err)
	}
}

func TestTheStoreRemembersEachFailureSinceItBegan(t *testing.T) {
	eachStore(t, testTheStoreRemembersEachFailureSinceItBegan)
}

func testTheStoreRemembersEachFailureSinceItBegan(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	ctx := context.Background()
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, Apply, "RUN-1", t1)
	t2 := t1.Add(90 * time.Minute)
	// Between the passes u24's number loses digits: a new cause.
	edit(t, d.cfg.Source.File.Path, "u24,user24@corp.example,Demo User 24,+12125550199", "u24,user24@corp.example,Demo User 24,+1212555")
	d.passAt(t, Apply, "RUN-2", t2)

	st, err := d.store.StandingFailures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 16 || st.Causes[licensing.CauseWebexUserNotFound] != 1 || st.Causes[licensing.CauseInvalidE164] != 7 || !st.Oldest.Equal(t1) {
		t.Fatalf("standing = %+v, want 16 failures, the oldest from the first pass", st)
	}
	byID := map[string]Failure{}
	if err := d.store.Failures(ctx, licensing.Causes, func(f *Failure) error { byID[f.SourceID] = *f; return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id            string
		since, lookup time.Time
		lookups       int
	}{
		{"u21", t1, t2.Add(time.Hour), 1}, // no person, for 90 minutes: next look-up in an hour
		{"u24", t2, time.Time{}, 0},       // the cause changed: the failure began again
		{"u26", t1, time.Time{}, 1},       // owned by a workspace since the first pass
	}
	for _, tc := range tests {
		f, ok := byID[tc.id]
		if !ok {
			t.Fatalf("%s is not a standing failure", tc.id)
		}
		if !f.FailingSince.Equal(tc.since) || !f.NextLookup.Equal(tc.lookup) || f.Lookups != tc.lookups || !f.FirstSeen.Equal(t1) {
			t.Errorf("%s: failing since %s, next look-up %s, %d look-ups, first seen %s; want %s, %s, %d, %s",
				tc.id, f.FailingSince, f.NextLookup, f.Lookups, f.FirstSeen, tc.since, tc.lookup, tc.lookups, t1)
		}
		if !f.HasRecord || f.Record.ID != tc.id || f.Record.Email != f.Email || !f.Record.Enabled || len(f.Record.Groups) != 1 {
			t.Errorf("%s: record = %+v, want the directory record of the last decision", tc.id, f.Record)
		}
	}
}

func TestLicenceDelaysRunFromFirstSightingToTheLicence(t *testing.T) {
	eachStore(t, testLicenceDelaysRunFromFirstSightingToTheLicence)
}

func testLicenceDelaysRunFromFirstSightingToTheLicence(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	ctx := context.Background()
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, Apply, "RUN-1", t1)
	if first, _ := d.store.LicenceDelays(ctx, "RUN-1"); len(first) != 13 || first[0] != 0 {
		t.Fatalf("delays of RUN-1 = %v, want 13 users licensed on first sight", first)
	}
	sqlExec(t, d.orgDB(t), "INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')")
	d.passAt(t, Apply, "RUN-2", t1.Add(25*time.Minute))
	delays, err := d.store.LicenceDelays(ctx, "RUN-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(delays) != 1 || delays[0] != 25*time.Minute {
		t.Fatalf("delays of RUN-2 = %v, want u21's 25m", delays)
	}
	st, _ := d.store.StandingFailures(ctx)
	if st.Causes[licensing.CauseWebexUserNotFound] != 0 || st.Total != 15 {
		t.Fatalf("standing after u21 was licensed = %+v", st)
	}
}

func TestTheLookUpWaitGrowsWithTheFailureUpToADay(t *testing.T) {
	tests := []struct{ age, want time.Duration }{
		{0, 0},
		{59 * time.Minute, 0},
		{time.Hour, time.Hour},
		{119 * time.Minute, time.Hour},
		{2 * time.Hour, 2 * time.Hour},
		{7 * time.Hour, 4 * time.Hour},
		{9 * time.Hour, 8 * time.Hour},
		{20 * time.Hour, 16 * time.Hour},
		{32 * time.Hour, 24 * time.Hour},
		{30 * 24 * time.Hour, 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := lookupWait(tc.age); got != tc.want {
			t.Errorf("lookupWait(%s) = %s, want %s", tc.age, got, tc.want)
		}
	}
}

// edit replaces old with new in the file at path, failing when old is absent.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestACurrentStoreOpensWhileAPassWritesToIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT INTO checkpoints VALUES ('ldap', 'usn:1', 'RUN-1')"); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		other, err := OpenStore(path)
		if err == nil {
			other.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("opening the store beside a writer: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("opening a current store waited for the pass writing to it")
	}
}
