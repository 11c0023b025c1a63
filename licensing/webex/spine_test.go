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
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
	licsync "github.com/licensync/licensync/sync"
)

// demoDir is the repository's demo: the org CSVs the offline target seeds
// from and the directory the spine's golden reports come from.
var demoDir = filepath.Join("..", "..", "testdata", "demo")

// readCSV calls each with every row of a seed file, keyed by column.
func readCSV(t testing.TB, name string, each func(map[string]string)) {
	t.Helper()
	f, err := os.Open(filepath.Join(demoDir, "org", name))
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
func (f *fake) loadDemo(t testing.TB) {
	readCSV(t, "locations.csv", func(r map[string]string) {
		f.locations = append(f.locations, locationJSON{ID: r["id"], Name: r["name"]})
		if b, _ := strconv.ParseBool(r["calling_enabled"]); !b {
			f.noCalling[r["id"]] = true
		}
	})
	readCSV(t, "numbers.csv", func(r map[string]string) {
		f.numbers = append(f.numbers, &fakeNumber{Phone: r["phone_number"], Ext: r["extension"], Location: r["location_id"],
			State: r["state"], OwnerID: r["owner_id"], OwnerType: strings.ToUpper(r["owner_type"])})
	})
	readCSV(t, "licenses.csv", func(r map[string]string) {
		total, _ := strconv.Atoi(r["total_units"])
		used, _ := strconv.Atoi(r["consumed_units"])
		f.licences = append(f.licences, &fakeLicence{ID: r["id"], Name: r["name"], Sub: r["subscription_id"], Total: total, Consumed: used, Status: strings.ToUpper(r["status"])})
	})
	readCSV(t, "people.csv", func(r map[string]string) {
		p := &fakePerson{ID: r["id"], Email: r["email"], Name: r["display_name"], Phone: r["phone_number"], Location: r["location_id"]}
		for _, l := range strings.Split(r["licenses"], ";") {
			if l != "" {
				p.Licences = append(p.Licences, l)
			}
		}
		f.people[p.ID] = p
	})
}

// spine runs passes of the demo directory through a Webex client, exactly
// as the sync package's golden tests run them through the offline target.
type spine struct {
	cfg   *config.Config
	store *licsync.Store
	dir   string
}

func newSpine(t *testing.T) *spine {
	t.Helper()
	cfg, err := config.Load(filepath.Join(demoDir, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := licsync.OpenStore(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &spine{cfg: cfg, store: store, dir: dir}
}

func (s *spine) pass(ctx context.Context, c *Client, mode licsync.Mode, id string) (*licsync.Result, error) {
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return licsync.Execute(ctx, licsync.Options{
		Policy: s.cfg.Policy(), Source: file.New(filepath.Join(demoDir, "directory.csv"), nil), Target: c, Store: s.store,
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
	want, err := os.ReadFile(filepath.Join("..", "..", "sync", "testdata", "golden", golden))
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
	for _, e := range f.calls("PATCH", "/licenses/users") {
		var id string
		if i := strings.Index(e.Body, `"personId":"`); i >= 0 {
			id = e.Body[i+len(`"personId":"`):]
			id = id[:strings.IndexByte(id, '"')]
		}
		out[id]++
	}
	return out
}

func TestTheDemoThroughTheWebexTargetGivesTheOfflineReports(t *testing.T) {
	t.Run("plan", func(t *testing.T) {
		f := newFake(t)
		f.loadDemo(t)
		s := newSpine(t)
		res, err := s.pass(context.Background(), f.client(t, Options{}), licsync.Plan, "PLAN-1")
		if err != nil {
			t.Fatal(err)
		}
		sameAsGolden(t, res.ReportDir, "report.csv", "plan-report.csv")
		if n := len(f.calls("PATCH", "/licenses/users")); n != 0 {
			t.Fatalf("plan sent %d PATCHes", n)
		}
	})
	t.Run("run", func(t *testing.T) {
		f := newFake(t)
		f.loadDemo(t)
		s := newSpine(t)
		res, err := s.pass(context.Background(), f.client(t, Options{}), licsync.Apply, "RUN-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"report.csv", "report.json", "report.html"} {
			sameAsGolden(t, res.ReportDir, name, "run-"+name)
		}
		if res.Writes != 13 || f.licence("LIC-PRO").Consumed != 15 {
			t.Fatalf("writes %d, LIC-PRO consumed %d; want 13 and 15", res.Writes, f.licence("LIC-PRO").Consumed)
		}
	})
}

func TestTheDemoRunSurvivesFaultsAndARestartWithoutADuplicatePatch(t *testing.T) {
	f := newFake(t)
	f.loadDemo(t)
	f.throttleEvery = 9
	f.fail5xx, f.fail5xxPath = 2, "/licenses/users"
	f.crash["P-02"] = "drop"        // applied, then the connection drops
	f.crash["P-03"] = "500"         // applied, then a 500
	f.crash["P-04"] = "drop-before" // dropped before it was applied
	s := newSpine(t)

	// The first pass is killed while P-08's PATCH, already applied, waits
	// for its answer: a crash between send and response.
	f.crash["P-08"] = "hang"
	ctx, kill := context.WithCancel(context.Background())
	f.onHang = kill
	_, err := s.pass(ctx, f.client(t, Options{Concurrency: 1}), licsync.Apply, "RUN-1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed pass ended with %v", err)
	}
	if f.licence("LIC-PRO").Consumed == 15 {
		t.Fatal("the first pass applied everything before it was killed; the restart proves nothing")
	}

	// The restart, with a new client as a new process would have.
	res, err := s.pass(context.Background(), f.client(t, Options{}), licsync.Apply, "RUN-2")
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
	if got := f.licence("LIC-PRO").Consumed; got != 15 {
		t.Errorf("LIC-PRO consumed %d, want 15: each of the 13 users once", got)
	}
	outcomes := map[string]string{}
	err = s.store.Rows(context.Background(), "", func(r licsync.Row) error { outcomes[r.SourceID] = r.Outcome; return nil })
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
