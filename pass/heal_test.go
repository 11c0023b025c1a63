package pass

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/sources/file"
)

// changesSource is an incremental directory in memory: a read without a
// checkpoint emits every user, a read from one only the changed users.
type changesSource struct {
	users, changed []licensing.DirectoryUser
}

func (s *changesSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	list, full := s.changed, false
	if since == "" {
		list, full = s.users, true
	}
	for _, u := range list {
		if err := emit(u); err != nil {
			return "", false, err
		}
	}
	return "cp", full, nil
}

func (s *changesSource) Close() error { return nil }

// refusing is the offline org failing every write for one email with a
// server error while on is set, as a Webex outage for one request would.
type refusing struct {
	*offline.Org
	email string
	on    bool
	// asked counts the look-ups of each email; lookups run side by side.
	mu    sync.Mutex
	asked map[string]int
}

func (r *refusing) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	r.mu.Lock()
	for _, e := range emails {
		r.asked[e]++
	}
	r.mu.Unlock()
	return r.Org.People(ctx, emails)
}

func (r *refusing) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	errs := make([]error, len(changes))
	for i, c := range changes {
		if r.on && c.Email == r.email {
			errs[i] = errors.New("webex: POST people: 503 Service Unavailable (tracking id T-1)")
			continue
		}
		e, fatal := r.Org.Apply(ctx, changes[i:i+1])
		if fatal != nil {
			return errs, fatal
		}
		errs[i] = e[0]
	}
	return errs, nil
}

// healDemo is the demo directory behind an incremental source, over the
// demo org refusing u01's write until told otherwise, after one full run at
// t0.
type healDemo struct {
	*demo
	src *changesSource
	tgt *refusing
	t0  time.Time
}

func newHealDemo(t *testing.T) *healDemo {
	t.Helper()
	return newHealDemoOn(t, sqliteStore)
}

// newHealDemoOn is newHealDemo with its store on the engine k.
func newHealDemoOn(t *testing.T, k storeKind) *healDemo {
	t.Helper()
	d := newDemoOn(t, k, nil)
	h := &healDemo{demo: d, src: &changesSource{}, tgt: &refusing{Org: d.org, email: "user01@corp.example", on: true, asked: map[string]int{}}, t0: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	if _, _, err := file.New(d.cfg.Source.File.Path, nil).Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		h.src.users = append(h.src.users, u)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if res := h.pass(t, Apply, "RUN-0", h.t0); res.Summary.Causes[string(licensing.CauseAPIError)] != 1 {
		t.Fatalf("the first run = %+v, want u01 refused", res.Summary)
	}
	return h
}

func (h *healDemo) pass(t *testing.T, mode Mode, id string, now time.Time) *Result {
	t.Helper()
	res, err := Execute(context.Background(), Options{
		Policy: h.cfg.Policy(), Source: h.src, Target: h.tgt, Store: h.store,
		Mode: mode, SourceKey: "memory", ReportDir: h.cfg.ReportDir, BatchSize: 7, Workers: 2,
		Now: func() time.Time { return now }, RunID: id,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rows reads a pass's report.csv as user id → row.
func reportRows(t *testing.T, dir string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, ",")
		out[f[0]] = f
	}
	return out
}

func TestAFailureClearedOnTheTargetIsLicensedInTheNextIncrementalPass(t *testing.T) {
	eachStore(t, testAFailureClearedOnTheTargetIsLicensedInTheNextIncrementalPass)
}

func testAFailureClearedOnTheTargetIsLicensedInTheNextIncrementalPass(t *testing.T, k storeKind) {
	tests := []struct {
		cause licensing.Cause
		user  string
		clear string
	}{
		// u01's write is refused until its case, which lets it through.
		{licensing.CauseWebexUserNotFound, "u21", "INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')"},
		{licensing.CauseNumberNotProvisioned, "u24", "INSERT INTO numbers VALUES ('+12125550199', '1199', 'LOC-NYC', 'ACTIVE', '', '')"},
		{licensing.CauseNumberLocationInvalid, "u25", "UPDATE locations SET calling_enabled = 1 WHERE id = 'LOC-LAB'"},
		{licensing.CauseNumberAssignedToOther, "u26", "UPDATE numbers SET owner_type = '', owner_id = '' WHERE phone_number = '+12125550126'"},
		{licensing.CauseLicenceUnavailable, "u28", "UPDATE licenses SET total_units = 2 WHERE id = 'LIC-BAS'"},
		{licensing.CauseAPIError, "u01", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.cause), func(t *testing.T) {
			h := newHealDemoOn(t, k)
			ctx := context.Background()
			before, _ := h.store.StandingFailures(ctx)
			if tc.clear != "" {
				sqlExec(t, h.orgDB(t), tc.clear)
			} else {
				h.tgt.on = false
			}
			writes, _ := h.org.Writes(ctx)
			res := h.pass(t, Apply, "RUN-1", h.t0.Add(5*time.Minute))
			after, _ := h.org.Writes(ctx)
			if res.Writes != 1 || after != writes+1 {
				t.Fatalf("the quiet pass wrote %d (org audit %d -> %d), want only %s", res.Writes, writes, after, tc.user)
			}
			rows := reportRows(t, res.ReportDir)
			if r := rows[tc.user]; r == nil || r[5] != string(licensing.Provisioned) {
				t.Fatalf("%s in the quiet pass's report = %q, want PROVISIONED", tc.user, r)
			}
			people, _ := h.org.People(ctx, []string{"user" + tc.user[1:] + "@corp.example"})
			if p := people["user"+tc.user[1:]+"@corp.example"]; p.PhoneNumber == "" {
				t.Fatalf("%s holds no number after the pass: %+v", tc.user, p)
			}
			now, _ := h.store.StandingFailures(ctx)
			if now.Total != before.Total-1 || now.Causes[tc.cause] != before.Causes[tc.cause]-1 {
				t.Fatalf("standing failures %+v -> %+v, want one %s fewer", before, now, tc.cause)
			}
			// Still blocked: fed again but not written, and told how long.
			if tc.user != "u21" {
				if r := rows["u21"]; r == nil || r[6] != string(licensing.CauseWebexUserNotFound) || !strings.HasSuffix(r[7], " (failing for 5m)") {
					t.Fatalf("u21 in the quiet pass's report = %q, want still failing for 5m", r)
				}
			}
			for _, blocked := range []string{"u27", "u29", "u16", "u22"} {
				if r := rows[blocked]; r != nil {
					t.Errorf("%s, still blocked with nothing cleared, is in the quiet pass: %q", blocked, r)
				}
			}
			// The next quiet pass finds nothing more to write.
			if again := h.pass(t, Apply, "RUN-2", h.t0.Add(10*time.Minute)); again.Writes != 0 {
				t.Fatalf("the second quiet pass wrote %d", again.Writes)
			}
		})
	}
}

func TestPeopleAreLookedUpAgainOnABackoff(t *testing.T) {
	eachStore(t, testPeopleAreLookedUpAgainOnABackoff)
}

func testPeopleAreLookedUpAgainOnABackoff(t *testing.T, k storeKind) {
	h := newHealDemoOn(t, k)
	// Passes every 5 minutes for 3 hours: u21 has no person throughout.
	var fedAt []time.Duration
	for at := 5 * time.Minute; at <= 3*time.Hour; at += 5 * time.Minute {
		clear(h.tgt.asked)
		res := h.pass(t, Apply, "RUN-"+at.String(), h.t0.Add(at))
		_, fed := reportRows(t, res.ReportDir)["u21"]
		if fed {
			fedAt = append(fedAt, at)
		}
		if asked := h.tgt.asked["user21@corp.example"]; (asked == 1) != fed || len(h.tgt.asked) > 2 {
			t.Fatalf("at %s u21 fed %v, looked up %d times; all look-ups %v", at, fed, asked, h.tgt.asked)
		}
	}
	// Every pass in the first hour (11 after the first run), then once at
	// 1h (wait 1h), at 2h (wait 2h): the next is due at 4h.
	if len(fedAt) != 13 || fedAt[10] != 55*time.Minute || fedAt[11] != time.Hour || fedAt[12] != 2*time.Hour {
		t.Fatalf("u21 was looked up again at %v", fedAt)
	}
}

func TestAUserTheSourceReadsIsDecidedOnceOnItsNewRecord(t *testing.T) {
	eachStore(t, testAUserTheSourceReadsIsDecidedOnceOnItsNewRecord)
}

func testAUserTheSourceReadsIsDecidedOnceOnItsNewRecord(t *testing.T, k storeKind) {
	h := newHealDemoOn(t, k)
	sqlExec(t, h.orgDB(t), "INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')")
	h.src.changed = []licensing.DirectoryUser{h.src.users[20]}
	h.src.changed[0].DisplayName = "Renamed 21"
	res := h.pass(t, Apply, "RUN-1", h.t0.Add(5*time.Minute))
	rows := reportRows(t, res.ReportDir)
	if r := rows["u21"]; res.Summary.Users != 2 || rows["u01"] == nil || r == nil || r[2] != "Renamed 21" || r[5] != string(licensing.Provisioned) {
		t.Fatalf("report = %v, want u21 once, as the source read it now, and u01 tried again", rows)
	}
}

func TestFormatAgeReadsAsAPersonWouldSayIt(t *testing.T) {
	tests := []struct {
		name string
		age  time.Duration
		want string
	}{
		{"a failure seconds old is under a minute", 12 * time.Second, "under a minute"},
		{"minutes are rounded", 44*time.Minute + 40*time.Second, "45m"},
		{"hours carry their minutes", 3*time.Hour + 12*time.Minute, "3h12m"},
		{"a day and a half is still in hours", 36 * time.Hour, "36h00m"},
		{"from two days on, days and hours", 4*24*time.Hour + 3*time.Hour + 10*time.Minute, "4d3h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatAge(tt.age); got != tt.want {
				t.Fatalf("FormatAge(%v) = %q, want %q", tt.age, got, tt.want)
			}
		})
	}
}
