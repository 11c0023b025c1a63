package graph

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	licpass "github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

var demo = filepath.Join("..", "..", "testdata", "demo")

// demoFake serves the repository's demo directory as an Entra ID tenant:
// each user's userPrincipalName is a tenant name unlike their mail, a DN
// group becomes the group of its CN, and the London users (+44) are in
// Calling Users through a nested group.
func demoFake(t testing.TB, csvPath string) *fake {
	t.Helper()
	f := newFake(t)
	loadDemo(t, f, csvPath)
	return f
}

func loadDemo(t testing.TB, f *fake, csvPath string) {
	t.Helper()
	in, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	recs, err := csv.NewReader(in).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]*fakeGroup{}
	groupOf := func(name string) *fakeGroup {
		if g, ok := groups[name]; ok {
			return g
		}
		g := &fakeGroup{ID: "grp-" + strings.ToLower(strings.ReplaceAll(name, " ", "-")), Name: name}
		groups[name] = g
		f.addGroup(g)
		return g
	}
	london := &fakeGroup{ID: "grp-london", Name: "London Office"}
	f.addGroup(london)
	calling := groupOf("Calling Users")
	calling.Members = append(calling.Members, london.ID)
	for _, r := range recs[1:] {
		id, email, name, phone, enabled, grps := r[0], r[1], r[2], r[3], r[4], r[5]
		u := &fakeUser{ID: id, UPN: id + "@corpexample.onmicrosoft.com", Mail: email, Name: name, Enabled: enabled != "false"}
		if phone != "" {
			u.Phones = []string{phone}
		}
		f.addUser(u)
		for _, g := range strings.Split(grps, ";") {
			if g == "" {
				continue
			}
			if cn, ok := strings.CutPrefix(g, "CN="); ok {
				g, _, _ = strings.Cut(cn, ",")
			}
			if g == "Calling Users" && strings.HasPrefix(phone, "+44") {
				london.Members = append(london.Members, id)
				continue
			}
			grp := groupOf(g)
			grp.Members = append(grp.Members, id)
		}
	}
}

// org is a calling organisation and a state store that persist over the
// passes of one test.
type org struct {
	t     testing.TB
	cfg   *config.Config
	dir   string
	store *licpass.Store
	tgt   *offline.Org
	n     int
	log   *bytes.Buffer
}

func newOrg(t testing.TB) *org {
	t.Helper()
	cfg, err := config.Load(filepath.Join(demo, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tgt, err := offline.Open(filepath.Join(dir, "org.db"), cfg.Target.Offline.Seed)
	if err != nil {
		t.Fatal(err)
	}
	store, err := licpass.OpenStore(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(); _ = tgt.Close() })
	return &org{t: t, cfg: cfg, dir: dir, store: store, tgt: tgt, log: &bytes.Buffer{}}
}

// logger writes JSON lines into o.log, where tests look for secrets.
func (o *org) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(o.log), zap.DebugLevel))
}

// templateGroups are the groups the demo's templates name.
func (o *org) templateGroups() []string {
	var gs []string
	for _, t := range o.cfg.Templates {
		gs = append(gs, t.Groups...)
	}
	return gs
}

// graph opens a Graph source for cfg with the demo's templates.
func (o *org) graph(cfg config.GraphSource) *Source {
	o.t.Helper()
	src, err := Open(cfg, o.templateGroups(), o.logger().Named("graph"))
	if err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { _ = src.Close() })
	return src
}

// pass runs one pass and returns its result and report.csv.
func (o *org) pass(src licpass.Source, mode licpass.Mode) (*licpass.Result, []byte, error) {
	o.t.Helper()
	o.n++
	now := time.Date(2026, 12, 1, 9, o.n, 0, 0, time.UTC)
	res, err := licpass.Execute(context.Background(), licpass.Options{
		Policy: o.cfg.Policy(), Source: src, Target: o.tgt, Store: o.store, Mode: mode, SourceKey: "demo",
		ExactReportDir: filepath.Join(o.dir, "report", strconv.Itoa(o.n)), Now: func() time.Time { return now },
		RunID: fmt.Sprintf("DEMO-%d", o.n), Log: o.logger(),
	})
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
	if err != nil {
		o.t.Fatal(err)
	}
	return res, b, nil
}

func (o *org) mustPass(src licpass.Source, mode licpass.Mode) (*licpass.Result, []byte) {
	o.t.Helper()
	res, rep, err := o.pass(src, mode)
	if err != nil {
		o.t.Fatal(err)
	}
	return res, rep
}

func (o *org) checkpoint() string {
	o.t.Helper()
	cp, err := o.store.Checkpoint(context.Background(), "demo")
	if err != nil {
		o.t.Fatal(err)
	}
	return cp
}

// rows returns the report's lines for the given source ids, sorted.
func rows(report []byte, ids ...string) []string {
	var out []string
	for _, line := range strings.Split(string(report), "\n") {
		for _, id := range ids {
			if strings.HasPrefix(line, id+",") {
				out = append(out, line)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestTheDemoGivesTheSameReportThroughTheFileAndTheGraphSource(t *testing.T) {
	csvPath := filepath.Join(demo, "directory.csv")
	_, fromFile := newOrg(t).mustPass(file.New(csvPath, nil), licpass.PlanOnly)
	f := demoFake(t, csvPath)
	o := newOrg(t)
	_, fromGraph := o.mustPass(o.graph(f.config()), licpass.PlanOnly)

	if !bytes.Equal(fromFile, fromGraph) {
		t.Fatalf("the reports differ\nfile:\n%s\ngraph:\n%s", fromFile, fromGraph)
	}
	if n := bytes.Count(fromGraph, []byte("\n")); n != 35 {
		t.Fatalf("report has %d lines, want a header and 34 users", n)
	}
	for _, want := range []string{string(licensing.WouldProvision), string(licensing.CauseDisabled), string(licensing.CauseNumberClaimedTwice), string(licensing.CauseOutOfScope)} {
		if !bytes.Contains(fromGraph, []byte(want)) {
			t.Errorf("the Graph report has no %s", want)
		}
	}
}

func TestDeltaPassesMakeTheFileSourcesDecisionsAndNoWritesWhenNothingChanged(t *testing.T) {
	csvPath := filepath.Join(demo, "directory.csv")
	f := demoFake(t, csvPath)
	o := newOrg(t)
	src := o.graph(f.config())
	first, _ := o.mustPass(src, licpass.Apply)
	if !first.Run.Full || first.Writes == 0 {
		t.Fatalf("first pass: full %v, %d writes; want a full pass that provisions", first.Run.Full, first.Writes)
	}
	cp := o.checkpoint()

	second, rep := o.mustPass(src, licpass.Apply)
	if second.Run.Full || second.Writes != 0 {
		t.Fatalf("second pass: full %v, %d writes; want an incremental pass with no writes", second.Run.Full, second.Writes)
	}
	// Only u21, who has no Webex person yet, is looked up again: healing
	// does so every pass in a failure's first hour.
	if n := bytes.Count(rep, []byte("\n")); n != 2 || !bytes.Contains(rep, []byte("\nu21,")) || !bytes.Contains(rep, []byte("(failing for 1m)")) {
		t.Fatalf("the unchanged delta pass reported %d lines, want the header and u21 still failing:\n%s", n, rep)
	}
	if o.checkpoint() == cp {
		t.Errorf("the checkpoint did not move to the new delta links")
	}

	// u33's phone is corrected in national format's E.164 form, and u15,
	// in no group so far, joins Calling Users.
	f.change("u33", func(u *fakeUser) { u.Phones = []string{"+44 20 7183 8751"} })
	f.join("grp-calling-users", "u15", false)
	third, fromGraph := o.mustPass(src, licpass.Apply)
	if third.Run.Full {
		t.Fatal("third pass was full, want incremental")
	}

	// The file source, over the same directory with the same edits and an
	// organisation in the same state, decides the same for these users.
	edited := editCSV(t, csvPath, map[string]func([]string){
		"u33": func(r []string) { r[3] = "+44 20 7183 8751" },
		"u15": func(r []string) { r[5] = "Calling Users" },
	})
	fo := newOrg(t)
	fo.mustPass(file.New(csvPath, nil), licpass.Apply)
	_, fromFile := fo.mustPass(file.New(edited, nil), licpass.Apply)

	got, want := rows(fromGraph, "u15", "u33"), rows(fromFile, "u15", "u33")
	if len(got) != 2 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("delta rows:\n%s\nfile rows:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(got[1], string(licensing.Provisioned)) {
		t.Errorf("u33 = %s, want provisioned on the corrected number", got[1])
	}
	if strings.Contains(got[0], string(licensing.CauseOutOfScope)) {
		t.Errorf("u15 = %s, want the Calling Users template to apply after the join", got[0])
	}
}

func editCSV(t *testing.T, path string, edits map[string]func([]string)) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	recs, err := csv.NewReader(in).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:] {
		if e := edits[r[0]]; e != nil {
			e(r)
		}
	}
	out := filepath.Join(t.TempDir(), "directory.csv")
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
