package console

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing/controlhub"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// planExporter stands in for the service: asked for a plan, it runs a
// plan pass of the demo on its own goroutine, one at a time, writing the
// plan's changes as a bulk-licence CSV into the pass's report folder.
type planExporter struct {
	d     *demo
	mu    gosync.Mutex
	state string
	done  chan struct{}
}

func (e *planExporter) ask() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != "" {
		return
	}
	e.state, e.done = ExportRunning, make(chan struct{})
	go func() {
		defer close(e.done)
		e.plan()
		e.mu.Lock()
		e.state = ""
		e.mu.Unlock()
	}()
}

func (e *planExporter) plan() {
	cfg := e.d.cfg
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		panic(err)
	}
	defer org.Close()
	// The page shows the plan coming before it is there.
	time.Sleep(300 * time.Millisecond)
	_, err = pass.Execute(context.Background(), pass.Options{
		Policy: cfg.Policy(), Source: file.New(cfg.Source.File.Path, nil), Target: org, Store: e.d.store,
		Mode: pass.PlanOnly, SourceKey: "file", ReportDir: cfg.ReportDir, Workers: 2,
		Export: func(p *pass.Plan) error {
			var planned []controlhub.Planned
			err := p.Each(100, func(batch []pass.PlanEntry) error {
				for _, pe := range batch {
					if pe.Decision.Change != nil {
						planned = append(planned, controlhub.Planned{Change: *pe.Decision.Change, LocationName: pe.Decision.LocationName, Holds: pe.Holds})
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			dir := filepath.Join(cfg.ReportDir, p.RunID)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(dir, PlanExportFile))
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = controlhub.WriteBulk(f, p.Org, planned, controlhub.BulkOptions{})
			return err
		},
	})
	if err != nil {
		panic(err)
	}
}

func (e *planExporter) wait() {
	e.mu.Lock()
	done := e.done
	e.mu.Unlock()
	if done != nil {
		<-done
	}
}

// exporting is the demo's console with a plan exporter behind it.
func (d *demo) exporting(t testing.TB) (*Console, *planExporter) {
	t.Helper()
	e := &planExporter{d: d}
	o := d.options("127.0.0.1:9431")
	o.ExportPlan = e.ask
	status := o.Status
	o.Status = func() Status {
		st := status()
		e.mu.Lock()
		st.Export = e.state
		e.mu.Unlock()
		return st
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.wait)
	return c, e
}

// formToken gets the Downloads page and returns its cookie and the token
// its form carries.
func formToken(t *testing.T, h http.Handler) (*http.Cookie, string) {
	t.Helper()
	w := get(t, h, "/downloads")
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == csrfCookie {
			ck = c
		}
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if ck == nil || m == nil {
		t.Fatalf("the Downloads page set no token cookie (%v) or its form has no token", w.Result().Cookies())
	}
	if ck.SameSite != http.SameSiteStrictMode || !ck.HttpOnly || m[1] != ck.Value {
		t.Fatalf("cookie %+v, form token %q: want a SameSite=Strict HttpOnly cookie the form repeats", ck, m[1])
	}
	return ck, m[1]
}

func TestAskingForAPlanNeedsTheConsolesOwnFormAndItsToken(t *testing.T) {
	const site = "http://127.0.0.1:9431"
	d := newDemo(t, nil)
	c, e := d.exporting(t)
	ck, tok := formToken(t, c)
	forged := &http.Cookie{Name: csrfCookie, Value: "QUFBQUFBQUFBQUFBQUFBQUFBQUE.forged"}
	tests := []struct {
		name           string
		origin, referr string
		cookie         *http.Cookie
		token          string
		want           int
	}{
		{"a post without the form's token is refused", site, "", ck, "", http.StatusForbidden},
		{"a post whose token is not its cookie's is refused", site, "", ck, tok + "x", http.StatusForbidden},
		{"a post without the cookie is refused", site, "", nil, tok, http.StatusForbidden},
		{"a post with a cookie and token the console never signed is refused", site, "", forged, forged.Value, http.StatusForbidden},
		{"a post from another origin is refused, token or not", "http://evil.example", "", ck, tok, http.StatusForbidden},
		{"a post from another port of the same host is refused", "http://127.0.0.1:8080", "", ck, tok, http.StatusForbidden},
		{"a post naming no origin at all is refused", "", "", ck, tok, http.StatusForbidden},
		{"a post with Origin null is refused", "null", "", ck, tok, http.StatusForbidden},
		{"a post from the Downloads page by its Referer is accepted", "", site + "/downloads", ck, tok, http.StatusSeeOther},
		{"the console's own form is accepted", site, "", ck, tok, http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.wait()
			before := planRuns(t, d)
			r := httptest.NewRequest(http.MethodPost, site+"/downloads/plan", strings.NewReader(url.Values{csrfField: {tc.token}}.Encode()))
			r.RemoteAddr = "127.0.0.1:50000"
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referr != "" {
				r.Header.Set("Referer", tc.referr)
			}
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			e.wait()
			after := planRuns(t, d)
			if ran := after > before; ran != (tc.want == http.StatusSeeOther) {
				t.Fatalf("plan passes %d before, %d after: a plan ran = %v", before, after, ran)
			}
		})
	}
}

func TestBehindATrustedProxyTheFormsOriginIsTheForwardedHost(t *testing.T) {
	d := newDemo(t, nil)
	c, e := d.exporting(t)
	c.o.Access = func() Access { return Access{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}} }
	ck, tok := formToken(t, c)
	tests := []struct {
		name, remote string
		want         int
	}{
		{"the proxy's forwarded host counts", "127.0.0.1:50000", http.StatusSeeOther},
		{"a forwarded host from anyone else does not", "127.0.0.2:50000", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9431/downloads/plan", strings.NewReader(url.Values{csrfField: {tok}}.Encode()))
			r.RemoteAddr = tc.remote
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", "https://licensync.corp.example")
			r.Header.Set("X-Forwarded-Host", "licensync.corp.example")
			r.AddCookie(ck)
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			e.wait()
		})
	}
}

func planRuns(t *testing.T, d *demo) int {
	t.Helper()
	runs, err := d.store.Runs(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(slices.DeleteFunc(runs, func(r pass.RunInfo) bool { return r.Mode != string(pass.PlanOnly) }))
}

func TestTheExportedPlanDownloadsAsACSVAndThePageShowsItsCounts(t *testing.T) {
	d := newDemo(t, nil)
	// After the applying pass, the directory fixes two users' numbers:
	// the plan would provision exactly them.
	b, err := os.ReadFile(d.cfg.Source.File.Path)
	if err != nil {
		t.Fatal(err)
	}
	fixed := strings.NewReplacer(",12125550117,", ",+12125550117,", ",(212) 555-0118,", ",+12125550118,").Replace(string(b))
	if err := os.WriteFile(d.cfg.Source.File.Path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	c, e := d.exporting(t)
	mustContain(t, get(t, c, "/downloads").Body.String(), `id="plan-export"`, "No plan pass is kept.")
	e.ask()
	mustContain(t, get(t, c, "/downloads").Body.String(), `id="plan-pending"`)
	e.wait()
	runs, err := d.store.Runs(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := runs[0].ID
	page := get(t, c, "/downloads").Body.String()
	rows := runs[0].Summary.Outcomes["WOULD_PROVISION"]
	if rows != 2 {
		t.Fatalf("the plan would provision %d users, want the 2 fixed ones", rows)
	}
	mustContain(t, page, `href="/api/v1/passes/`+id+`/controlhub-bulk.csv"`, `<span id="plan-rows">2</span>`, `data-outcome="WOULD_PROVISION">WOULD_PROVISION 2<`)
	if strings.Contains(page, `id="plan-pending"`) {
		t.Fatal("the page still says a plan is coming")
	}
	w := get(t, c, "/api/v1/passes/"+id+"/controlhub-bulk.csv")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" || w.Header().Get("Content-Disposition") != `attachment; filename="licensync-`+id+`-controlhub-bulk.csv"` {
		t.Fatalf("status %d, headers %v", w.Code, w.Header())
	}
	want, err := os.ReadFile(filepath.Join(d.cfg.ReportDir, id, PlanExportFile))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(w.Body)
	recs, err := csv.NewReader(strings.NewReader(string(got))).ReadAll()
	if err != nil || string(got) != string(want) || len(recs) != 3 || !strings.Contains(string(got), "user17@corp.example") || !strings.Contains(string(got), "user18@corp.example") {
		t.Fatalf("downloaded (%v):\n%s\nwant the file's %d bytes with rows for user17 and user18", err, got, len(want))
	}
}
