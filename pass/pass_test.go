package pass

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/sources/file"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// demo is the repository's demo directory and org, copied so passes write
// nowhere near the repository.
type demo struct {
	cfg   *config.Config
	store *Store
	org   *offline.Org
	dir   string
}

func newDemo(t *testing.T) *demo {
	t.Helper()
	return newDemoWith(t, nil)
}

// newDemoWith is newDemo with each copied file passed through edit first.
func newDemoWith(t *testing.T, edit func(name, content string) string) *demo {
	t.Helper()
	return newDemoOn(t, sqliteStore, edit)
}

// newDemoOn is newDemoWith with its store on the engine k.
func newDemoOn(t *testing.T, k storeKind, edit func(name, content string) string) *demo {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "demo")
	for _, f := range []string{"licensync.yaml", "directory.csv", "org/locations.csv", "org/numbers.csv", "org/licenses.csv", "org/people.csv"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			b = []byte(edit(f, string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store := k.open(t, cfg.State)
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(); org.Close() })
	return &demo{cfg: cfg, store: store, org: org, dir: dir}
}

func (d *demo) pass(t *testing.T, mode Mode, id string) *Result {
	t.Helper()
	res, err := d.try(mode, id)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// try runs a pass and returns its error.
func (d *demo) try(mode Mode, id string) (*Result, error) {
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return Execute(context.Background(), Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: mode, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
		Now: func() time.Time { return clock }, RunID: id,
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./sync -run %s -update to accept):\n%s", name, t.Name(), got)
	}
}

func TestTheDemoRunMatchesTheGoldenReports(t *testing.T) {
	eachStore(t, testTheDemoRunMatchesTheGoldenReports)
}

func testTheDemoRunMatchesTheGoldenReports(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	res := d.pass(t, Apply, "RUN-1")
	for _, name := range []string{"report.csv", "report.json", "report.html"} {
		got, err := os.ReadFile(filepath.Join(d.cfg.ReportDir, "latest", name))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "run-"+name, got)
	}
	if res.Writes != 13 || res.Summary.Outcomes["PROVISIONED"] != 13 {
		t.Fatalf("writes = %d, summary = %+v", res.Writes, res.Summary)
	}
}

func TestThePlanMatchesTheGoldenReportAndTouchesNothing(t *testing.T) {
	eachStore(t, testThePlanMatchesTheGoldenReportAndTouchesNothing)
}

func testThePlanMatchesTheGoldenReportAndTouchesNothing(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	res := d.pass(t, PlanOnly, "PLAN-1")
	got, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-report.csv", got)
	if n, _ := d.org.Writes(context.Background()); n != 0 {
		t.Fatalf("plan made %d writes", n)
	}
	var users int
	_ = d.store.Rows(context.Background(), "", func(Row) error { users++; return nil })
	if users != 0 {
		t.Fatalf("plan recorded %d latest decisions", users)
	}
}

func TestASecondRunProvisionsNobodyAndMakesNoWrites(t *testing.T) {
	eachStore(t, testASecondRunProvisionsNobodyAndMakesNoWrites)
}

func testASecondRunProvisionsNobodyAndMakesNoWrites(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	first := d.pass(t, Apply, "RUN-1")
	ctx := context.Background()
	writes, _ := d.org.Writes(ctx)
	second := d.pass(t, Apply, "RUN-2")
	after, _ := d.org.Writes(ctx)
	if after != writes || second.Writes != 0 {
		t.Fatalf("second run wrote %d (org audit %d -> %d)", second.Writes, writes, after)
	}
	want := first.Summary.Outcomes["PROVISIONED"] + first.Summary.Outcomes["ALREADY_PROVISIONED"]
	if got := second.Summary.Outcomes["ALREADY_PROVISIONED"]; got != want || second.Summary.Outcomes["PROVISIONED"] != 0 {
		t.Fatalf("second run outcomes = %v, want %d ALREADY_PROVISIONED", second.Summary.Outcomes, want)
	}
	snap, err := d.org.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := snap.Licences["LIC-PRO"]; l.ConsumedUnits != 2+13 {
		t.Fatalf("LIC-PRO consumed %d units, want 15", l.ConsumedUnits)
	}
	if n, _ := snap.Numbers.Get("+442071838750"); n.OwnerType != licensing.OwnerPeople || n.OwnerID != "P-30" {
		t.Fatalf("London number owner = %+v", n)
	}
}

func TestUnprovisionedUsersAreKeptPerUserAndPerRun(t *testing.T) {
	eachStore(t, testUnprovisionedUsersAreKeptPerUserAndPerRun)
}

func testUnprovisionedUsersAreKeptPerUserAndPerRun(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	d.pass(t, Apply, "RUN-1")
	ctx := context.Background()
	var latest, run []string
	if err := d.store.Rows(ctx, licensing.Failed, func(r Row) error { latest = append(latest, r.SourceID+":"+r.Cause); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := d.store.RunFailures(ctx, "RUN-1", func(r Row) error { run = append(run, r.SourceID+":"+r.Cause); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(latest) != 16 || len(run) != 16 {
		t.Fatalf("failed users: latest %d, run %d, want 16", len(latest), len(run))
	}
	if !strings.Contains(strings.Join(latest, " "), "u22:NUMBER_CLAIMED_TWICE") {
		t.Fatalf("latest failures = %v", latest)
	}
	r, err := d.store.Run(ctx, "")
	if err != nil || r.ID != "RUN-1" || r.Status != "succeeded" || r.Summary.Users != 34 {
		t.Fatalf("latest run = %+v, %v", r, err)
	}
}

func TestReportsAreSpreadsheetSafe(t *testing.T) {
	d := newDemo(t)
	res := d.pass(t, PlanOnly, "PLAN-1")
	f, err := os.Open(filepath.Join(res.ReportDir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if licensing.FormulaCell(cell, i == 3 || i == 4) {
				t.Errorf("%s cell %q would run as a formula", Header[i], cell)
			}
		}
	}
	html, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.html"))
	if bytes.Contains(html, []byte(`=HYPERLINK("http`)) {
		t.Error("the HTML report carries a directory value unescaped")
	}
	var js struct {
		Run     RunInfo
		Summary Summary
		Users   []Row
	}
	b, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.json"))
	if err := json.Unmarshal(b, &js); err != nil || len(js.Users) != 34 || js.Summary.Users != 34 || js.Run.ID != "PLAN-1" {
		t.Fatalf("report.json: %v, %d users, summary %+v", err, len(js.Users), js.Summary)
	}
}

func TestTheCSVReportGuardsEveryCellASpreadsheetWouldRun(t *testing.T) {
	tests := []struct {
		name   string
		column int
		cell   string
		want   string
	}{
		{"a strict E.164 work phone stays a number", 3, "+12125550100", "+12125550100"},
		{"a strict E.164 e164 cell stays a number", 4, "+442071838750", "+442071838750"},
		{"a plus and a digit before a command is guarded", 2, "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"a minus and digits before a command is guarded", 2, "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"a work phone with a command after its digits is guarded", 3, "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"a formatted work phone is guarded", 3, "+1 (212) 555-0131", "'+1 (212) 555-0131"},
		{"an E.164 number outside a phone column is guarded", 7, "+12125550199 is not in the calling number inventory", "'+12125550199 is not in the calling number inventory"},
		{"a minus number is guarded", 8, "-5", "'-5"},
		{"an equals sign is guarded", 2, "=1+1", "'=1+1"},
		{"an at sign is guarded", 1, "@SUM(A1)", "'@SUM(A1)"},
		{"a leading tab is guarded", 2, "\tx", "'\tx"},
		{"a leading carriage return is guarded", 2, "\rx", "'\rx"},
		{"a name is left alone", 2, "Ann", "Ann"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cells := make([]string, len(Header))
			cells[tc.column] = tc.cell
			row := Row{SourceID: cells[0], Email: cells[1], DisplayName: cells[2], WorkPhone: cells[3], E164: cells[4], Outcome: cells[5],
				Cause: cells[6], Detail: cells[7], LocationID: cells[8], LocationName: cells[9], Licenses: cells[10]}
			var b bytes.Buffer
			w, err := NewCSVWriter(&b)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(&row); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if got := recs[1][tc.column]; got != tc.want {
				t.Errorf("%s cell %q written as %q, want %q", Header[tc.column], tc.cell, got, tc.want)
			}
		})
	}
}

func TestPruneRunsKeepsTheNewestPassesAndTheirFailures(t *testing.T) {
	eachStore(t, testPruneRunsKeepsTheNewestPassesAndTheirFailures)
}

func testPruneRunsKeepsTheNewestPassesAndTheirFailures(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	for _, id := range []string{"RUN-1", "RUN-2", "RUN-3"} {
		d.pass(t, PlanOnly, id)
	}
	ctx := context.Background()
	n, err := d.store.PruneRuns(ctx, 2)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	runs, _ := d.store.Runs(ctx, 10)
	if len(runs) != 2 || runs[0].ID != "RUN-3" || runs[1].ID != "RUN-2" {
		t.Fatalf("runs left = %+v", runs)
	}
	var gone, kept int
	_ = d.store.RunFailures(ctx, "RUN-1", func(Row) error { gone++; return nil })
	_ = d.store.RunFailures(ctx, "RUN-2", func(Row) error { kept++; return nil })
	if gone != 0 || kept != 16 {
		t.Fatalf("failures of the pruned run %d (want 0), of a kept run %d (want 16)", gone, kept)
	}
}

// movedDemo points the demo's calling template at a new subscription, so
// the one user who already has Calling from SUB-1 (u11) would move, with
// the removals section given.
func movedDemo(t *testing.T, removals string) *demo {
	return newDemoWith(t, func(name, content string) string {
		switch name {
		case "org/licenses.csv":
			return content + "LIC-PRO-NEW,Webex Calling - Professional,SUB-NEW,40,0,ACTIVE\n"
		case "licensync.yaml":
			content = strings.Replace(content, "{name: Webex Calling - Professional, subscription: SUB-1}", "{name: Webex Calling - Professional, subscription: SUB-NEW}", 1)
			return content + removals
		}
		return content
	})
}

func rowOf(t *testing.T, dir, id string) []string {
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
	for _, r := range recs {
		if r[0] == id {
			return r
		}
	}
	t.Fatalf("no row for %s", id)
	return nil
}

func TestARunThatWouldRemoveLicencesStopsBeforeItsFirstWrite(t *testing.T) {
	tests := []struct {
		name     string
		removals string
		want     []string
	}{
		{"without acknowledgement", "", []string{"from 1 of 34 users", "removals.acknowledge is false", "set removals.acknowledge: true"}},
		{"over the fraction", "removals: {acknowledge: true, max_fraction: 0.02}\n", []string{"from 1 of 34 users (2.9%), over removals.max_fraction 0.02", "raise removals.max_fraction"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := movedDemo(t, tc.removals)
			_, err := d.try(Apply, "RUN-1")
			if err == nil {
				t.Fatal("the run went ahead")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
			ctx := context.Background()
			if n, _ := d.org.Writes(ctx); n != 0 {
				t.Fatalf("the refused run made %d writes", n)
			}
			var users int
			_ = d.store.Rows(ctx, "", func(Row) error { users++; return nil })
			if r, _ := d.store.Run(ctx, "RUN-1"); users != 0 || r.Status != "failed" {
				t.Fatalf("the refused run recorded %d decisions, status %q", users, r.Status)
			}
		})
	}
}

func TestAPlanShowsTheRemovalsAndSaysRunWouldRefuse(t *testing.T) {
	d := movedDemo(t, "")
	res := d.pass(t, PlanOnly, "PLAN-1")
	row := rowOf(t, res.ReportDir, "u11")
	if row[5] != string(licensing.WouldProvision) ||
		!strings.Contains(row[7], "moves Calling from Webex Calling - Professional [SUB-1] to Webex Calling - Professional [SUB-NEW] in one request, keeping +12125550111, extension 1011, location New York") ||
		!strings.HasSuffix(row[7], "(run would refuse: removals.acknowledge is false)") {
		t.Fatalf("u11 row = %q", row)
	}
	if res.Summary.Removals != 1 || !strings.Contains(res.Summary.Refusal, "from 1 of 34 users") {
		t.Fatalf("summary = %+v", res.Summary)
	}
	b, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.json"))
	html, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.html"))
	if !bytes.Contains(b, []byte(`"refusal":"removals: the pass would remove licences from 1 of 34 users`)) || !bytes.Contains(html, []byte("removals.acknowledge is false")) {
		t.Fatalf("the JSON and HTML reports do not carry the refusal")
	}
	if n, _ := d.org.Writes(context.Background()); n != 0 {
		t.Fatalf("plan made %d writes", n)
	}
}

// A plan records what it decides as it goes, up to its first removal, and
// the rest once the guard has judged the whole plan: wherever the batches
// cut, the reports and the stored failures come out the same, and only the
// removal carries the refusal.
func TestAPlanReportsTheSameWhereverItsFirstRemovalFallsInABatch(t *testing.T) {
	type outcome struct{ csv, json, failures string }
	passWith := func(t *testing.T, batch int) outcome {
		d := movedDemo(t, "")
		clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		res, err := Execute(context.Background(), Options{
			Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
			Mode: PlanOnly, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: batch, Workers: 2,
			Now: func() time.Time { return clock }, RunID: "PLAN-1",
		})
		if err != nil {
			t.Fatal(err)
		}
		csvBytes, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
		jsonBytes, _ := os.ReadFile(filepath.Join(res.ReportDir, "report.json"))
		var failures strings.Builder
		if err := d.store.RunFailures(context.Background(), "PLAN-1", func(r Row) error {
			failures.WriteString(r.SourceID + " " + r.Cause + "\n")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, line := range strings.Split(string(csvBytes), "\n") {
			if strings.Contains(line, "(run would refuse: ") {
				refused++
				if !strings.HasPrefix(line, "u11,") {
					t.Errorf("batches of %d: a user who loses nothing carries the refusal: %s", batch, line)
				}
			}
		}
		if refused != 1 {
			t.Errorf("batches of %d: %d rows carry the refusal, want u11's alone", batch, refused)
		}
		return outcome{string(csvBytes), string(jsonBytes), failures.String()}
	}
	want := passWith(t, 500)
	if strings.Count(want.csv, "\n") != 35 || want.failures == "" {
		t.Fatalf("the plan in one batch reported %d lines and failures %q", strings.Count(want.csv, "\n"), want.failures)
	}
	for _, batch := range []int{1, 2, 3, 7, 10, 11, 12} {
		t.Run(fmt.Sprintf("in batches of %d", batch), func(t *testing.T) {
			got := passWith(t, batch)
			if got.csv != want.csv {
				t.Errorf("report.csv differs from the plan in one batch:\n%s\nwant\n%s", got.csv, want.csv)
			}
			if got.json != want.json {
				t.Errorf("report.json differs from the plan in one batch")
			}
			if got.failures != want.failures {
				t.Errorf("stored failures:\n%s\nwant\n%s", got.failures, want.failures)
			}
		})
	}
}

func TestAnAcknowledgedMoveUnderTheFractionKeepsTheNumberAndHappensOnce(t *testing.T) {
	d := movedDemo(t, "removals: {acknowledge: true, max_fraction: 0.05}\n")
	res := d.pass(t, Apply, "RUN-1")
	row := rowOf(t, res.ReportDir, "u11")
	if row[5] != string(licensing.Provisioned) || row[10] != "LIC-PRO-NEW" {
		t.Fatalf("u11 row = %q", row)
	}
	ctx := context.Background()
	people, _ := d.org.People(ctx, []string{"user11@corp.example"})
	p := people["user11@corp.example"]
	if strings.Join(p.Licences, ";") != "LIC-PRO-NEW" || p.PhoneNumber != "+12125550111" || p.LocationID != "LOC-NYC" {
		t.Fatalf("P-11 after the move = %+v", p)
	}
	snap, _ := d.org.Snapshot(ctx)
	if n, _ := snap.Numbers.Get("+12125550111"); n.OwnerID != "P-11" {
		t.Fatalf("number after the move = %+v", n)
	}
	if snap.Licences["LIC-PRO"].ConsumedUnits != 1 {
		t.Fatalf("LIC-PRO consumed %d after one user left it, want 1", snap.Licences["LIC-PRO"].ConsumedUnits)
	}
	writes, _ := d.org.Writes(ctx)
	second := d.pass(t, Apply, "RUN-2")
	after, _ := d.org.Writes(ctx)
	if after != writes || second.Writes != 0 || second.Summary.Removals != 0 {
		t.Fatalf("the second run wrote %d, removals %d", second.Writes, second.Summary.Removals)
	}
	if row := rowOf(t, second.ReportDir, "u11"); row[5] != string(licensing.AlreadyProvisioned) {
		t.Fatalf("u11 on the second run = %q", row)
	}
}

// agentDemo adds Contact Center agent licences to the demo: the calling
// template also gives Standard Agent (stdUnits free), and u11, who already
// has Calling, holds Premium Agent. Standard Agent has stdTotal units, 10
// of them used.
func agentDemo(t *testing.T, stdTotal, removals string) *demo {
	return newDemoWith(t, func(name, content string) string {
		switch name {
		case "org/licenses.csv":
			return content + "LIC-CC-STD,Contact Center Standard Agent,SUB-CC," + stdTotal + ",10,ACTIVE\nLIC-CC-PRM,Contact Center Premium Agent,SUB-CC,10,1,ACTIVE\n"
		case "org/people.csv":
			return strings.Replace(content, "P-11,user11@corp.example,Demo User 11,LIC-PRO,", "P-11,user11@corp.example,Demo User 11,LIC-PRO;LIC-CC-PRM,", 1)
		case "licensync.yaml":
			content = strings.Replace(content, "      - {name: Webex Calling - Professional, subscription: SUB-1}",
				"      - {name: Webex Calling - Professional, subscription: SUB-1}\n      - {name: Contact Center Standard Agent, subscription: SUB-CC}", 1)
			return content + removals
		}
		return content
	})
}

func TestContactCenterAgentLicences(t *testing.T) {
	t.Run("a user holding the other agent kind fails with the setting to change when removals are not acknowledged", func(t *testing.T) {
		d := agentDemo(t, "50", "")
		res := d.pass(t, Apply, "RUN-1")
		row := rowOf(t, res.ReportDir, "u11")
		if row[5] != string(licensing.Failed) || row[6] != string(licensing.CauseAgentLicenceConflict) || !strings.Contains(row[7], "removals.acknowledge: true") {
			t.Fatalf("u11 = %q", row)
		}
		people, _ := d.org.People(context.Background(), []string{"user11@corp.example"})
		if got := strings.Join(people["user11@corp.example"].Licences, ";"); got != "LIC-PRO;LIC-CC-PRM" {
			t.Fatalf("u11's licences changed to %s", got)
		}
	})
	t.Run("a user holding the other agent kind is swapped in one change when removals are acknowledged", func(t *testing.T) {
		d := agentDemo(t, "50", "removals: {acknowledge: true}\n")
		res := d.pass(t, Apply, "RUN-1")
		row := rowOf(t, res.ReportDir, "u11")
		if row[5] != string(licensing.Provisioned) || row[7] != "adds Contact Center Standard Agent [SUB-CC]; removes Contact Center Premium Agent [SUB-CC]" {
			t.Fatalf("u11 = %q", row)
		}
		people, _ := d.org.People(context.Background(), []string{"user11@corp.example"})
		if got := people["user11@corp.example"]; strings.Join(got.Licences, ";") != "LIC-PRO;LIC-CC-STD" || got.PhoneNumber != "+12125550111" {
			t.Fatalf("u11 after the swap = %+v", got)
		}
	})
	t.Run("a user gets the whole template or nothing and the report names the missing licence", func(t *testing.T) {
		d := agentDemo(t, "15", "")
		d.pass(t, Apply, "RUN-1")
		ctx := context.Background()
		snap, _ := d.org.Snapshot(ctx)
		if std, pro := snap.Licences["LIC-CC-STD"], snap.Licences["LIC-PRO"]; std.ConsumedUnits != 15 || pro.ConsumedUnits != 2+5 {
			t.Fatalf("consumed: Standard Agent %d (want all 15), Professional %d (want 2+5: only the users who got the whole template)", std.ConsumedUnits, pro.ConsumedUnits)
		}
		var short []string
		_ = d.store.Rows(ctx, licensing.Failed, func(r Row) error {
			if strings.Contains(r.Detail, "Contact Center Standard Agent (subscription SUB-CC) has no free units: 15 of 15 used; none of template \"calling\"'s licences is applied") {
				short = append(short, r.SourceID)
			}
			return nil
		})
		if len(short) != 8 {
			t.Fatalf("%d users report the missing agent licence (%v), want the 8 past the last unit", len(short), short)
		}
	})
}

// stopAt is the offline org that stops taking writes at its nth Apply, as a
// revoked token would, after applying the first of that batch's changes.
type stopAt struct {
	*offline.Org
	n     int
	calls atomic.Int32
}

func (s *stopAt) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	if int(s.calls.Add(1)) != s.n {
		return s.Org.Apply(ctx, changes)
	}
	errs, _ := s.Org.Apply(ctx, changes[:1])
	stop := errors.New("token rejected")
	for range changes[1:] {
		errs = append(errs, stop)
	}
	return errs, stop
}

func TestATargetThatStopsMidPassLosesNoWriteThatLanded(t *testing.T) {
	eachStore(t, testATargetThatStopsMidPassLosesNoWriteThatLanded)
}

func testATargetThatStopsMidPassLosesNoWriteThatLanded(t *testing.T, k storeKind) {
	d := newDemoOn(t, k, nil)
	tgt := &stopAt{Org: d.org, n: 2}
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	_, err := Execute(context.Background(), Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: tgt, Store: d.store,
		Mode: Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 3, Workers: 2,
		Now: func() time.Time { return clock }, RunID: "RUN-1",
	})
	if err == nil || !strings.Contains(err.Error(), "target apply: token rejected") {
		t.Fatalf("err = %v, want the pass stopped by the target", err)
	}
	ctx := context.Background()
	landed, _ := d.org.Writes(ctx)
	provisioned := 0
	_ = d.store.Rows(ctx, "", func(r Row) error {
		if r.Outcome == string(licensing.Provisioned) {
			provisioned++
		}
		return nil
	})
	if landed == 0 || provisioned != landed {
		t.Fatalf("%d writes landed and %d users are recorded PROVISIONED: every write that landed must be recorded", landed, provisioned)
	}
	if r, _ := d.store.Run(ctx, "RUN-1"); r.Status != "failed" {
		t.Fatalf("the stopped pass is recorded %q, want failed", r.Status)
	}
}

func TestThePlanSaysWhyRunWouldRefuseARemoval(t *testing.T) {
	tests := []struct {
		name     string
		removals licensing.Removals
		want     string
	}{
		{"unacknowledged removals name the acknowledgement", licensing.Removals{MaxFraction: 0.5}, "removals.acknowledge is false"},
		{"a zero fraction says it allows none", licensing.Removals{Acknowledge: true}, "removals.max_fraction is 0, which allows none"},
		{"a fraction names its value", licensing.Removals{Acknowledge: true, MaxFraction: 0.05}, "over removals.max_fraction 0.05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalReason(tt.removals); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
