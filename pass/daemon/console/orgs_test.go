package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// firstRows keeps the header and the first n users of the demo directory.
func firstRows(n int) func(string) string {
	return func(s string) string {
		return strings.Join(strings.SplitAfter(s, "\n")[:n+1], "")
	}
}

// twoOrgs is the demo as organisation "east" (every user) and its first
// twenty users as "west", each on its own SQLite store, behind one console
// on loopback.
func twoOrgs(t *testing.T) (*Orgs, map[string]*demo, map[string]*planExporter) {
	t.Helper()
	return twoOrgsOn(t, "127.0.0.1:9431", nil)
}

// twoOrgsOn is twoOrgs listening on listen, with access when set.
func twoOrgsOn(t *testing.T, listen string, access func() Access) (*Orgs, map[string]*demo, map[string]*planExporter) {
	t.Helper()
	demos := map[string]*demo{"east": newDemo(t, nil), "west": newDemo(t, firstRows(20))}
	exps := map[string]*planExporter{}
	var ocs []OrgConsole
	for _, name := range []string{"east", "west"} {
		e := &planExporter{d: demos[name]}
		t.Cleanup(e.wait)
		exps[name] = e
		o := demos[name].options(listen)
		o.Access = access
		o.Base, o.API = "/orgs/"+name, "/api/v1/orgs/"+name
		o.ExportPlan = e.ask
		c, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ocs = append(ocs, OrgConsole{Name: name, Console: c})
	}
	h, err := NewOrgs(ocs)
	if err != nil {
		t.Fatal(err)
	}
	return h, demos, exps
}

func TestEachOrganisationsConsoleShowsItsOwnStore(t *testing.T) {
	h, demos, _ := twoOrgs(t)
	var list OrgList
	w := get(t, h, "/api/v1/orgs")
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		t.Fatalf("%d %v: %s", w.Code, err, w.Body)
	}
	want := map[string]int{"east": 34, "west": 20}
	if len(list.Orgs) != 2 {
		t.Fatalf("the list holds %d organisations, want 2: %s", len(list.Orgs), w.Body)
	}
	for _, row := range list.Orgs {
		st, err := demos[row.Name].store.StandingFailures(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if row.Overview.Users != want[row.Name] || row.Overview.LastPass == nil || row.Overview.LastPass.ID != demos[row.Name].runs[0] ||
			row.Overview.Failing != st.Total || row.Console != "/orgs/"+row.Name+"/" {
			t.Errorf("%s: %+v, want %d users, pass %s, %d failing", row.Name, row, want[row.Name], demos[row.Name].runs[0], st.Total)
		}
	}
	page := get(t, h, "/").Body.String()
	mustContain(t, page, `<tr data-org="east">`, `<a href="/orgs/east/">east</a>`, `<a href="/orgs/west/">west</a>`, `<td class="num">34</td>`, `<td class="num">20</td>`)

	tests := []struct {
		name     string
		path     string
		code     int
		has, not []string
	}{
		{"an organisation's users page lists its users", "/orgs/east/users?q=user30", http.StatusOK,
			[]string{`href="/orgs/east/users/u30"`}, nil},
		{"the other organisation's users page does not", "/orgs/west/users?q=user30", http.StatusOK,
			nil, []string{"user30@corp.example"}},
		{"an organisation's links stay under its prefix", "/orgs/west/", http.StatusOK,
			[]string{`href="/orgs/west/failures"`, `action="/orgs/west/users"`, `href="/api/v1/orgs/west/"`, `href="/"`}, []string{`href="/failures"`}},
		{"an organisation's API answers with its own store", "/api/v1/orgs/west/users/u03", http.StatusOK,
			[]string{`"source_id": "u03"`}, nil},
		{"an organisation's API does not hold the other's users", "/api/v1/orgs/west/users/u30", http.StatusNotFound, nil, nil},
		{"an organisation's API index names its own root", "/api/v1/orgs/east/", http.StatusOK,
			[]string{"GET /api/v1/orgs/east/overview"}, nil},
		{"an organisation's name without a slash goes to its overview", "/orgs/east", http.StatusMovedPermanently, nil, nil},
		{"an unknown organisation's page is not found", "/orgs/north/", http.StatusNotFound, []string{"one of east, west"}, nil},
		{"an unknown organisation's API is not found", "/api/v1/orgs/north/overview", http.StatusNotFound, []string{`"error"`}, nil},
		{"an unknown organisation without a slash is not found", "/orgs/north", http.StatusNotFound, nil, nil},
		{"the single form's pages are not served in the orgs form", "/failures", http.StatusNotFound, nil, nil},
		{"the shared files are served", "/static/console.js", http.StatusOK, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := get(t, h, tc.path)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			mustContain(t, w.Body.String(), tc.has...)
			for _, s := range tc.not {
				if strings.Contains(w.Body.String(), s) {
					t.Errorf("the page contains %q", s)
				}
			}
		})
	}
}

func TestAnOrganisationsPlanFormWorksUnderItsPrefixAndAsksOnlyItsPlan(t *testing.T) {
	const site = "http://127.0.0.1:9431"
	h, demos, exps := twoOrgs(t)
	w := get(t, h, "/orgs/west/downloads")
	var ck *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == csrfCookie {
			ck = c
		}
	}
	if ck == nil || ck.Path != "/orgs/west/" {
		t.Fatalf("token cookie %+v, want one scoped to /orgs/west/", ck)
	}
	mustContain(t, w.Body.String(), `action="/orgs/west/downloads/plan"`, `name="csrf" value="`+ck.Value+`"`)
	post := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, site+path, strings.NewReader(url.Values{csrfField: {ck.Value}}.Encode()))
		r.RemoteAddr = "127.0.0.1:50000"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", site)
		r.AddCookie(ck)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post("/orgs/east/downloads/plan"); w.Code != http.StatusForbidden {
		t.Fatalf("west's token posted to east: status %d, want 403: %s", w.Code, w.Body)
	}
	w = post("/orgs/west/downloads/plan")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/orgs/west/downloads#plan-h" {
		t.Fatalf("status %d to %q, want 303 to west's Downloads: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	exps["west"].wait()
	if east, west := planRuns(t, demos["east"]), planRuns(t, demos["west"]); east != 0 || west != 1 {
		t.Fatalf("plan passes: east %d, west %d; want only west's", east, west)
	}
}

func TestOffLoopbackTheOrganisationsConsoleNeedsSignInEverywhere(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := twoOrgsOn(t, "192.0.2.10:9431", func() Access { return Access{Users: map[string][]byte{"desk": hash}} })
	tests := []struct {
		path   string
		signed bool
		want   int
	}{
		{"/", false, http.StatusUnauthorized},
		{"/api/v1/orgs", false, http.StatusUnauthorized},
		{"/orgs/east/", false, http.StatusUnauthorized},
		{"/orgs/east/users?q=user", false, http.StatusUnauthorized},
		{"/api/v1/orgs/west/overview", false, http.StatusUnauthorized},
		{"/orgs/north/", false, http.StatusUnauthorized},
		{"/static/console.css", false, http.StatusUnauthorized},
		{"/", true, http.StatusOK},
		{"/orgs/east/users?q=user", true, http.StatusOK},
		{"/api/v1/orgs/west/overview", true, http.StatusOK},
		{"/orgs/north/", true, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s signed in %v answers %d", tc.path, tc.signed, tc.want), func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://console.example:9431"+tc.path, nil)
			r.RemoteAddr = "198.51.100.7:4000"
			if tc.signed {
				r.SetBasicAuth("desk", "right-pass")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if !tc.signed && (strings.Contains(w.Body.String(), "east") || strings.Contains(w.Body.String(), "west")) {
				t.Fatalf("a refusal names the organisations: %s", w.Body)
			}
			if w.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Fatalf("CSP = %q", w.Header().Get("Content-Security-Policy"))
			}
		})
	}
}
