package okta

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	licpass "github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

var demoDir = filepath.Join("..", "..", "testdata", "demo")

// demoGroups are the Okta groups the demo's group names become.
var demoGroups = map[string]string{"Calling Users": "00gcalling", "Contractors": "00gcontractors", "Lobby Phones": "00globby"}

// demoOkta serves the users of the demo directory: the profile's email
// is the directory's email and its login something else, the work phone
// is primaryPhone, disabled users are SUSPENDED, and a DN-valued group
// becomes the group of that CN.
func demoOkta(t testing.TB, clk *fakeClock) *fakeOkta {
	t.Helper()
	f := newFakeOkta(t, clk, testToken)
	for name, id := range demoGroups {
		f.addGroup(id, name)
	}
	fh, err := os.Open(filepath.Join(demoDir, "directory.csv"))
	must(t, err)
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	must(t, err)
	for _, r := range recs[1:] {
		id, email, name, phone, enabled, groups := r[0], r[1], r[2], r[3], r[4], r[5]
		status := "ACTIVE"
		if enabled == "false" {
			status = "SUSPENDED"
		}
		prof := map[string]any{"login": id + "@okta-login.example", "email": email, "displayName": name, "firstName": "Demo", "lastName": id}
		if phone != "" {
			prof["primaryPhone"] = phone
		}
		f.addUser(id, status, prof)
		for _, g := range strings.Split(groups, ";") {
			if cn, ok := strings.CutPrefix(g, "CN="); ok {
				g = strings.SplitN(cn, ",", 2)[0]
			}
			if g != "" {
				f.join(demoGroups[g], id)
			}
		}
	}
	return f
}

// demoOrg is the demo's calling organisation and a state store.
type demoOrg struct {
	cfg   *config.Config
	dir   string
	org   *offline.Org
	store *licpass.Store
	runs  int
}

func newDemoOrg(t testing.TB) *demoOrg {
	t.Helper()
	cfg, err := config.Load(filepath.Join(demoDir, "licensync.yaml"), config.Options{})
	must(t, err)
	dir := t.TempDir()
	org, err := offline.Open(filepath.Join(dir, "org.db"), cfg.Target.Offline.Seed)
	must(t, err)
	t.Cleanup(func() { _ = org.Close() })
	store, err := licpass.OpenStore(filepath.Join(dir, "state.db"))
	must(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return &demoOrg{cfg: cfg, dir: dir, org: org, store: store}
}

func (d *demoOrg) templateGroups() []string {
	var g []string
	for _, t := range d.cfg.Templates {
		g = append(g, t.Groups...)
	}
	return g
}

// pass runs one pass of src and returns its result and report.csv.
func (d *demoOrg) pass(src licpass.Source, mode licpass.Mode) (*licpass.Result, []byte, error) {
	d.runs++
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	res, err := licpass.Execute(context.Background(), licpass.Options{
		Policy: d.cfg.Policy(), Source: src, Target: d.org, Store: d.store, Mode: mode, SourceKey: "okta",
		ExactReportDir: filepath.Join(d.dir, "report", string(rune('a'+d.runs))), Now: func() time.Time { return now },
		RunID: "DEMO" + string(rune('a'+d.runs)),
	})
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
	return res, b, err
}

func TestTheDemoGivesTheSameReportThroughTheFileAndTheOktaSource(t *testing.T) {
	fileOrg := newDemoOrg(t)
	_, fromFile, err := fileOrg.pass(file.New(filepath.Join(demoDir, "directory.csv"), nil), licpass.PlanOnly)
	must(t, err)

	d := newDemoOrg(t)
	f := demoOkta(t, newFakeClock())
	_, fromOkta, err := d.pass(openFake(t, f, Options{TemplateGroups: d.templateGroups()}, nil), licpass.PlanOnly)
	must(t, err)
	if !bytes.Equal(fromFile, fromOkta) {
		t.Fatalf("the reports differ\nfile:\n%s\nokta:\n%s", fromFile, fromOkta)
	}
	if n := bytes.Count(fromOkta, []byte("\n")); n != 35 {
		t.Fatalf("report has %d lines, want a header and 34 users", n)
	}
	for _, want := range []string{string(licensing.WouldProvision), string(licensing.CauseDisabled), string(licensing.CauseNumberClaimedTwice), "user13@corp.example"} {
		if !bytes.Contains(fromOkta, []byte(want)) {
			t.Errorf("the Okta report has no %s", want)
		}
	}
	if bytes.Contains(fromOkta, []byte("okta-login.example")) {
		t.Error("the report carries logins: the email must come from the profile's email")
	}
}

func TestIncrementalPassesOverTheDemo(t *testing.T) {
	clk := newFakeClock()
	d := newDemoOrg(t)
	f := demoOkta(t, clk)
	src := openFake(t, f, Options{TemplateGroups: d.templateGroups()}, nil)
	clk.Advance(time.Hour)
	first, _, err := d.pass(src, licpass.Apply)
	must(t, err)
	if !first.Run.Full || first.Writes == 0 {
		t.Fatalf("first pass full=%v writes=%d, want a full pass that provisions", first.Run.Full, first.Writes)
	}

	clk.Advance(5 * time.Minute)
	before := src.Stats().Users
	again, _, err := d.pass(src, licpass.Apply)
	must(t, err)
	if again.Run.Full || again.Writes != 0 || src.Stats().Users != before {
		t.Fatalf("incremental pass with no change: full=%v writes=%d users emitted %d; want no user and no write",
			again.Run.Full, again.Writes, src.Stats().Users-before)
	}

	clk.Advance(time.Minute)
	f.update("u24", func(u *fakeUser) { u.Profile["primaryPhone"] = "+12125550124" }) // was not in the inventory
	f.join("00gcalling", "u15")                                                       // was out of scope
	f.update("u01", func(u *fakeUser) { u.Status = "SUSPENDED" })                     // was provisioned
	clk.Advance(time.Minute)
	res, report, err := d.pass(src, licpass.Apply)
	must(t, err)
	if res.Run.Full || res.Writes != 2 {
		t.Errorf("full=%v writes=%d, want an incremental pass provisioning u24 and u15", res.Run.Full, res.Writes)
	}
	rows := map[string][]string{}
	recs, err := csv.NewReader(bytes.NewReader(report)).ReadAll()
	must(t, err)
	for _, r := range recs[1:] {
		rows[r[0]] = r
	}
	want := map[string]string{"u24": "PROVISIONED/", "u15": "PROVISIONED/", "u01": "SKIPPED/DISABLED"}
	// Calling Users' membership changed, so its members were read again;
	// none of them but the two changed is provisioned.
	for id, r := range rows {
		if want[id] == "" && r[5] == string(licensing.Provisioned) {
			t.Errorf("%s was provisioned again: %v", id, r)
		}
	}
	if _, ok := rows["u14"]; !ok {
		t.Errorf("u14, a member of Calling Users, was not read again after the group changed:\n%s", report)
	}
	for id, w := range want {
		if r := rows[id]; r == nil || r[5]+"/"+r[6] != w {
			t.Errorf("%s: %v, want %s", id, r, w)
		}
	}
}
