package daemon

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// demoStore is the demo's state store and offline organisation, with a pass
// runner whose clock the test sets.
type demoStore struct {
	cfg   *config.Config
	store *pass.Store
	org   *offline.Org
}

func openDemoStore(t *testing.T) *demoStore {
	t.Helper()
	cfg := demoConfig(t)
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); org.Close() })
	return &demoStore{cfg: cfg, store: store, org: org}
}

func (d *demoStore) passAt(t *testing.T, id string, now time.Time) *pass.Result {
	t.Helper()
	res, err := pass.Execute(context.Background(), pass.Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: pass.Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, Now: func() time.Time { return now }, RunID: id,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// addPerson creates a Webex person in the offline organisation, as the
// directory connector would.
func (d *demoStore) addPerson(t *testing.T, id, email string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+d.cfg.Target.Offline.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO people VALUES (?, ?, 'Demo User', '', '', '')", id, email); err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestMetricsTellStandingFailuresAndTimeToLicenceFromTheStore(t *testing.T) {
	d := openDemoStore(t)
	ctx := context.Background()
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	m := NewMetrics()
	m.now = func() time.Time { return t1.Add(50 * time.Hour) }
	// The service refreshes right after each pass.
	first := d.passAt(t, "RUN-1", t1)
	if err := m.Refresh(ctx, d.store, first); err != nil {
		t.Fatal(err)
	}
	d.addPerson(t, "P-21", "user21@corp.example")
	second := d.passAt(t, "RUN-2", t1.Add(3*time.Hour))
	if err := m.Refresh(ctx, d.store, second); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	// The second pass read the same directory: what still fails is what
	// the first pass failed, less the user whose person appeared; every
	// other cause shows 0.
	wantCauses := map[string]int{}
	for _, c := range licensing.Causes {
		if !c.SkipReason() {
			wantCauses[string(c)] = first.Summary.Causes[string(c)]
		}
	}
	wantCauses[string(licensing.CauseWebexUserNotFound)]--
	want := []string{
		// 13 licensed on first sight in RUN-1, user21 three hours after.
		fmt.Sprintf("licensync_time_to_licence_seconds_count %d", first.Summary.Outcomes["PROVISIONED"]+1),
		fmt.Sprintf("licensync_time_to_licence_seconds_bucket{le=\"60\"} %d", first.Summary.Outcomes["PROVISIONED"]),
		fmt.Sprintf("licensync_time_to_licence_seconds_bucket{le=\"14400\"} %d", first.Summary.Outcomes["PROVISIONED"]+1),
		"licensync_time_to_licence_seconds_sum 10800",
		// The oldest failures began with RUN-1, 50 hours before the scrape.
		"licensync_oldest_failure_age_seconds 180000",
	}
	for c, n := range wantCauses {
		want = append(want, fmt.Sprintf("licensync_standing_failures{cause=%q} %d", c, n))
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("metrics lack %q:\n%s", w, grepLines(body, "licensync_standing_failures", "licensync_time_to_licence", "licensync_oldest"))
		}
	}
	if second.Summary.Outcomes["PROVISIONED"] != 1 {
		t.Fatalf("RUN-2 provisioned %d users, want user21 alone", second.Summary.Outcomes["PROVISIONED"])
	}

	// A service that starts on this store exports its standing failures
	// before any pass of its own.
	fresh := NewMetrics()
	fresh.now = m.now
	if err := fresh.Refresh(ctx, d.store, nil); err != nil {
		t.Fatal(err)
	}
	body = scrape(t, fresh)
	for _, w := range []string{
		fmt.Sprintf("licensync_standing_failures{cause=%q} %d", licensing.CauseInvalidE164, wantCauses[string(licensing.CauseInvalidE164)]),
		"licensync_oldest_failure_age_seconds 180000",
		"licensync_time_to_licence_seconds_count 0",
	} {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("metrics of a fresh start lack %q", w)
		}
	}
}

func grepLines(body string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
