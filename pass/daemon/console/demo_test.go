package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// demo is the demo directory and organisation copied to a temporary
// folder, with a state store the console reads.
type demo struct {
	cfg   *config.Config
	store *pass.Store
	runs  []string
}

// newDemo copies testdata/demo, passing directory.csv through edit when
// set, and runs one applying pass over it.
func newDemo(t testing.TB, edit func(string) string) *demo {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "..", "testdata", "demo")
	for _, f := range []string{"licensync.yaml", "directory.csv", "org/locations.csv", "org/numbers.csv", "org/licenses.csv", "org/people.csv"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "directory.csv" && edit != nil {
			b = []byte(edit(string(b)))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d := &demo{cfg: cfg, store: store}
	d.pass(t)
	return d
}

// pass runs one applying pass of the demo.
func (d *demo) pass(t testing.TB) *pass.Result {
	t.Helper()
	org, err := offline.Open(d.cfg.Target.Offline.Path, d.cfg.Target.Offline.Seed)
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()
	res, err := pass.Execute(context.Background(), pass.Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: org, Store: d.store,
		Mode: pass.Apply, SourceKey: "file", ReportDir: d.cfg.ReportDir, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.runs = append(d.runs, res.Run.ID)
	return res
}

// options are the console's options over the demo, listening on listen.
func (d *demo) options(listen string) Options {
	return Options{
		Store:     d.store,
		ReportDir: func() string { return d.cfg.ReportDir },
		Listen:    listen,
		Live: func(context.Context) (*licensing.Policy, pass.Target, error) {
			org, err := offline.Open(d.cfg.Target.Offline.Path, d.cfg.Target.Offline.Seed)
			return d.cfg.Policy(), org, err
		},
		Source: func(context.Context) (pass.Source, error) { return file.New(d.cfg.Source.File.Path, nil), nil },
		Status: func() Status {
			return Status{NextFull: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC), Errors: []SideError{}}
		},
	}
}

func (d *demo) console(t testing.TB, listen string) *Console {
	t.Helper()
	c, err := New(d.options(listen))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get serves one GET on the loopback console.
func get(t testing.TB, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9431"+path, nil)
	r.RemoteAddr = "127.0.0.1:50000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}
}
