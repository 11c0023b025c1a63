package webex

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/internal/webextest"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// demoDir is the repository's demo: the org CSVs the offline target seeds
// from and the directory the spine's golden reports come from.
var demoDir = filepath.Join("..", "..", "testdata", "demo")

// readCSV calls each with every row of a seed file, keyed by column.
func readCSV(t testing.TB, dir, name string, each func(map[string]string)) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "org", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, h := range head {
			m[strings.TrimPrefix(h, "\ufeff")] = strings.TrimSpace(rec[i])
		}
		each(m)
	}
}

// loadDemo fills the fake with the organisation the offline demo seeds:
// the same locations (Test Lab without Calling), numbers and owners,
// licences with units and status, and people with what they hold.
func (f *fake) loadDemo(t testing.TB) { f.loadOrg(t, demoDir) }

// loadOrg fills the fake from the seed CSVs under dir/org.
func (f *fake) loadOrg(t testing.TB, dir string) {
	readCSV(t, dir, "locations.csv", func(r map[string]string) {
		f.Locations = append(f.Locations, webextest.Location{ID: r["id"], Name: r["name"]})
		if b, _ := strconv.ParseBool(r["calling_enabled"]); !b {
			f.NoCalling[r["id"]] = true
		}
	})
	readCSV(t, dir, "numbers.csv", func(r map[string]string) {
		f.Numbers = append(f.Numbers, &fakeNumber{Phone: r["phone_number"], Ext: r["extension"], Location: r["location_id"],
			State: r["state"], OwnerID: r["owner_id"], OwnerType: strings.ToUpper(r["owner_type"])})
	})
	readCSV(t, dir, "licenses.csv", func(r map[string]string) {
		total, _ := strconv.Atoi(r["total_units"])
		used, _ := strconv.Atoi(r["consumed_units"])
		f.Licences = append(f.Licences, &fakeLicence{ID: r["id"], Name: r["name"], Sub: r["subscription_id"], Total: total, Consumed: used, Status: strings.ToUpper(r["status"])})
	})
	readCSV(t, dir, "people.csv", func(r map[string]string) {
		p := &fakePerson{ID: r["id"], Email: r["email"], Name: r["display_name"], Phone: r["phone_number"], Location: r["location_id"]}
		for _, l := range strings.Split(r["licenses"], ";") {
			if l != "" {
				p.Licences = append(p.Licences, l)
			}
		}
		f.People[p.ID] = p
	})
}

// spine runs passes of the demo directory through a Webex client, exactly
// as the pass package's golden tests run them through the offline target.
type spine struct {
	cfg   *config.Config
	store *pass.Store
	dir   string
}

func newSpine(t *testing.T) *spine { return newSpineAt(t, demoDir) }

// newSpineAt runs the demo whose configuration and directory are in src.
func newSpineAt(t *testing.T, src string) *spine {
	t.Helper()
	cfg, err := config.Load(filepath.Join(src, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := pass.OpenStore(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &spine{cfg: cfg, store: store, dir: dir}
}

func (s *spine) pass(ctx context.Context, c *Client, mode pass.Mode, id string) (*pass.Result, error) {
	return s.passOn(ctx, c, mode, id)
}

// passOn runs a pass on any target.
func (s *spine) passOn(ctx context.Context, tgt pass.Target, mode pass.Mode, id string) (*pass.Result, error) {
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return pass.Execute(ctx, pass.Options{
		Policy: s.cfg.Policy(), Source: file.New(s.cfg.Source.File.Path, nil), Target: tgt, Store: s.store,
		Mode: mode, SourceKey: "file", ReportDir: filepath.Join(s.dir, "reports"), BatchSize: 7, Workers: 2,
		Now: func() time.Time { return clock }, RunID: id,
	})
}

func sameAsGolden(t *testing.T, dir, name, golden string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "pass", "testdata", "golden", golden))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s through the Webex target differs from the offline target's %s:\n%s", name, golden, got)
	}
}

// patchesPerPerson counts the PATCHes that reached the resource, by person.
func (f *fake) patchesPerPerson() map[string]int {
	out := map[string]int{}
	for _, e := range f.Calls("PATCH", "/licenses/users") {
		var id string
		if i := strings.Index(e.Body, `"personId":"`); i >= 0 {
			id = e.Body[i+len(`"personId":"`):]
			id = id[:strings.IndexByte(id, '"')]
		}
		out[id]++
	}
	return out
}

// lookingUp is the client without ExpectLookups, so a pass looks every
// user up.
type lookingUp struct{ c *Client }

func (l lookingUp) Snapshot(ctx context.Context) (*licensing.Org, error) { return l.c.Snapshot(ctx) }
func (l lookingUp) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	return l.c.People(ctx, emails)
}
func (l lookingUp) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	return l.c.Apply(ctx, changes)
}
func (l lookingUp) Close() error { return l.c.Close() }

func TestTheDemoThroughTheWebexTargetGivesTheOfflineReports(t *testing.T) {
	ways := []struct {
		name   string
		target func(*Client) pass.Target
		listed bool
	}{
		{"people listed", func(c *Client) pass.Target { return c }, true},
		{"people looked up", func(c *Client) pass.Target { return lookingUp{c} }, false},
	}
	for _, way := range ways {
		took := func(t *testing.T, f *fake) {
			t.Helper()
			_, lookups, listPages := f.requests()
			if way.listed != (listPages > 0) || way.listed == (lookups > 0) {
				t.Errorf("%d people pages and %d look-ups: not the way under test", listPages, lookups)
			}
		}
		t.Run(way.name+"/plan", func(t *testing.T) {
			f := newFake(t)
			f.loadDemo(t)
			s := newSpine(t)
			res, err := s.passOn(context.Background(), way.target(f.client(t, Options{})), pass.PlanOnly, "PLAN-1")
			if err != nil {
				t.Fatal(err)
			}
			sameAsGolden(t, res.ReportDir, "report.csv", "plan-report.csv")
			if n := len(f.Calls("PATCH", "/licenses/users")); n != 0 {
				t.Fatalf("plan sent %d PATCHes", n)
			}
			took(t, f)
		})
		t.Run(way.name+"/run", func(t *testing.T) {
			f := newFake(t)
			f.loadDemo(t)
			s := newSpine(t)
			res, err := s.passOn(context.Background(), way.target(f.client(t, Options{})), pass.Apply, "RUN-1")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"report.csv", "report.json", "report.html"} {
				sameAsGolden(t, res.ReportDir, name, "run-"+name)
			}
			if res.Writes != 13 || f.Licence("LIC-PRO").Consumed != 15 {
				t.Fatalf("writes %d, LIC-PRO consumed %d; want 13 and 15", res.Writes, f.Licence("LIC-PRO").Consumed)
			}
			took(t, f)
		})
	}
}

func TestTheDemoRunSurvivesFaultsAndARestartWithoutADuplicatePatch(t *testing.T) {
	f := newFake(t)
	f.loadDemo(t)
	f.ThrottleEvery = 9
	f.Fail5xx, f.Fail5xxPath = 2, "/licenses/users"
	f.Crash["P-02"] = "drop"        // applied, then the connection drops
	f.Crash["P-03"] = "500"         // applied, then a 500
	f.Crash["P-04"] = "drop-before" // dropped before it was applied
	s := newSpine(t)

	// The first pass is killed while P-08's PATCH, already applied, waits
	// for its answer: a crash between send and response.
	f.Crash["P-08"] = "hang"
	ctx, kill := context.WithCancel(context.Background())
	f.OnHang = kill
	_, err := s.pass(ctx, f.client(t, Options{Concurrency: 1}), pass.Apply, "RUN-1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed pass ended with %v", err)
	}
	if f.Licence("LIC-PRO").Consumed == 15 {
		t.Fatal("the first pass applied everything before it was killed; the restart proves nothing")
	}

	// The restart, with a new client as a new process would have.
	res, err := s.pass(context.Background(), f.client(t, Options{}), pass.Apply, "RUN-2")
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range f.patchesPerPerson() {
		want := 1
		if id == "P-04" {
			want = 2 // the first never reached the org: the read back said so
		}
		if n != want {
			t.Errorf("%s received %d PATCHes that reached the org, want %d", id, n, want)
		}
	}
	if got := f.Licence("LIC-PRO").Consumed; got != 15 {
		t.Errorf("LIC-PRO consumed %d, want 15: each of the 13 users once", got)
	}
	outcomes := map[string]string{}
	err = s.store.Rows(context.Background(), "", func(r pass.Row) error { outcomes[r.SourceID] = r.Outcome; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if outcomes["u08"] != string(licensing.AlreadyProvisioned) {
		t.Errorf("u08, applied as the first pass died, is %s on restart; want ALREADY_PROVISIONED", outcomes["u08"])
	}
	provisioned := 0
	for _, o := range outcomes {
		if o == string(licensing.Provisioned) || o == string(licensing.AlreadyProvisioned) {
			provisioned++
		}
	}
	if provisioned != 14 || res.Summary.Outcomes[string(licensing.Failed)] != 16 {
		t.Errorf("%d users provisioned after the restart (want 14 with u11), summary %v", provisioned, res.Summary.Outcomes)
	}
}

// movedDemo writes a copy of the demo whose calling template points at a
// new subscription, with removals acknowledged: user 11, who has Calling
// from SUB-1, moves, and everyone new is licensed from SUB-NEW.
func movedDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"licensync.yaml", "directory.csv", "org/locations.csv", "org/numbers.csv", "org/licenses.csv", "org/people.csv"} {
		b, err := os.ReadFile(filepath.Join(demoDir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch name {
		case "org/licenses.csv":
			b = append(b, "LIC-PRO-NEW,Webex Calling - Professional,SUB-NEW,40,0,ACTIVE\n"...)
		case "licensync.yaml":
			b = bytes.Replace(b, []byte("{name: Webex Calling - Professional, subscription: SUB-1}"), []byte("{name: Webex Calling - Professional, subscription: SUB-NEW}"), 1)
			b = append(b, "removals: {acknowledge: true, max_fraction: 0.05}\n"...)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestAMoveThroughTheWebexTargetGivesTheSameReportAsTheOfflineTarget(t *testing.T) {
	src := movedDemo(t)
	off := newSpineAt(t, src)
	org, err := offline.Open(filepath.Join(t.TempDir(), "org.db"), filepath.Join(src, "org"))
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()
	want, err := off.passOn(context.Background(), org, pass.Apply, "RUN-1")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t)
	f.loadOrg(t, src)
	web := newSpineAt(t, src)
	got, err := web.pass(context.Background(), f.client(t, Options{}), pass.Apply, "RUN-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.csv", "report.json"} {
		w, _ := os.ReadFile(filepath.Join(want.ReportDir, name))
		g, _ := os.ReadFile(filepath.Join(got.ReportDir, name))
		if !bytes.Equal(w, g) {
			t.Errorf("%s differs between the targets:\noffline:\n%s\nwebex:\n%s", name, w, g)
		}
	}
	rep, _ := os.ReadFile(filepath.Join(got.ReportDir, "report.csv"))
	if !bytes.Contains(rep, []byte("u11,user11@corp.example,Demo User 11,+12125550111,+12125550111,PROVISIONED,,\"moves Calling from Webex Calling - Professional [SUB-1] to Webex Calling - Professional [SUB-NEW] in one request, keeping +12125550111, extension 1011, location New York\"")) {
		t.Fatalf("the report does not show u11's move:\n%s", rep)
	}
	p := f.People["P-11"]
	if strings.Join(p.Licences, ";") != "LIC-PRO-NEW" || p.Phone != "+12125550111" || p.Location != "LOC-NYC" || f.Number("+12125550111").OwnerID != "P-11" {
		t.Fatalf("P-11 after the move through Webex = %+v", p)
	}
	if n := f.patchesPerPerson()["P-11"]; n != 1 {
		t.Fatalf("P-11 received %d PATCHes, want one that adds and removes together", n)
	}
}

func TestTheTokenAppearsInNoReportNorTheStateStore(t *testing.T) {
	const secret = "sekrit-demo-token-4711"
	f := newFake(t)
	f.loadDemo(t)
	f.Tokens[secret] = true
	f.Crash["P-02"] = "drop"
	f.Deny["LIC-PRO"] = true // every add answered 206: the errors land in the report
	s := newSpine(t)
	res, err := s.pass(context.Background(), f.client(t, Options{Token: secret}), pass.Apply, "RUN-1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Outcomes[string(licensing.Failed)] <= 16 {
		t.Fatalf("summary %v: the 206s did not reach the report, so this proves little", res.Summary.Outcomes)
	}
	err = filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s carries the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
