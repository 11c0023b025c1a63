package console

import (
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

func TestOffLoopbackEveryConsoleRequestNeedsSignIn(t *testing.T) {
	d := newDemo(t, nil)
	hash, err := bcrypt.GenerateFromPassword([]byte("right-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	o := d.options("192.0.2.10:9431")
	o.Access = func() Access {
		return Access{Users: map[string][]byte{"desk": hash}, TrustedHeader: "X-Forwarded-User", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	}
	asked := 0
	o.ExportPlan = func() { asked++ }
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		remote string
		setup  func(r *http.Request)
		want   int
	}{
		{"a page without credentials is refused", "/", "198.51.100.7:4000", nil, http.StatusUnauthorized},
		{"the API without credentials is refused", "/api/v1/users?q=user", "198.51.100.7:4000", nil, http.StatusUnauthorized},
		{"an asset without credentials is refused", "/static/console.css", "198.51.100.7:4000", nil, http.StatusUnauthorized},
		{"a wrong password is refused", "/", "198.51.100.7:4000", func(r *http.Request) { r.SetBasicAuth("desk", "wrong") }, http.StatusUnauthorized},
		{"an unknown user is refused", "/", "198.51.100.7:4000", func(r *http.Request) { r.SetBasicAuth("nobody", "right-pass") }, http.StatusUnauthorized},
		{"the right password opens a page", "/", "198.51.100.7:4000", func(r *http.Request) { r.SetBasicAuth("desk", "right-pass") }, http.StatusOK},
		{"the right password opens the API", "/api/v1/users?q=user", "198.51.100.7:4000", func(r *http.Request) { r.SetBasicAuth("desk", "right-pass") }, http.StatusOK},
		{"the proxy's header opens a page from the proxy", "/failures", "10.1.2.3:4000", func(r *http.Request) { r.Header.Set("X-Forwarded-User", "ann") }, http.StatusOK},
		{"the proxy's header from anywhere else is ignored", "/failures", "198.51.100.7:4000", func(r *http.Request) { r.Header.Set("X-Forwarded-User", "ann") }, http.StatusUnauthorized},
		{"the proxy without its header is refused", "/failures", "10.1.2.3:4000", nil, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://console.example:9431"+tc.path, nil)
			r.RemoteAddr = tc.remote
			if tc.setup != nil {
				tc.setup(r)
			}
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("a refusal without a basic challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if w.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Fatalf("CSP = %q", w.Header().Get("Content-Security-Policy"))
			}
		})
	}
	t.Run("asking for a plan without credentials is refused", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "http://console.example:9431/downloads/plan", strings.NewReader("csrf=x"))
		r.RemoteAddr = "198.51.100.7:4000"
		r.Header.Set("Origin", "http://console.example:9431")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized || asked != 0 {
			t.Fatalf("status %d, plans asked for %d; want 401 and none", w.Code, asked)
		}
	})
}

func TestOffLoopbackWithNoSignInConfiguredTheConsoleSaysHowToSetItUp(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "0.0.0.0:9431")
	r := httptest.NewRequest(http.MethodGet, "http://192.0.2.10:9431/", nil)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "daemon.console.htpasswd") {
		t.Fatalf("status %d %q, want 401 naming daemon.console.htpasswd", w.Code, w.Body)
	}
}

func TestOnLoopbackTheConsoleIsOpenButOnlyUnderALoopbackName(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	tests := []struct {
		host string
		want int
	}{
		{"127.0.0.1:9431", http.StatusOK},
		{"localhost:9431", http.StatusOK},
		{"[::1]:9431", http.StatusOK},
		// A page elsewhere that points its own name at 127.0.0.1.
		{"attacker.example:9431", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/overview", nil)
			r.Host, r.RemoteAddr = tc.host, "127.0.0.1:5000"
			w := httptest.NewRecorder()
			c.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestTheOverviewAndTheFailuresShowWhatTheStoreHolds(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	var ov struct {
		LastPass struct {
			ID       string
			Users    int
			Outcomes []Count
		} `json:"last_pass"`
		Failing  int
		NextFull string `json:"next_full"`
	}
	w := get(t, c, "/api/v1/overview")
	if err := json.Unmarshal(w.Body.Bytes(), &ov); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	st, err := d.store.StandingFailures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ov.LastPass.ID != d.runs[0] || ov.LastPass.Users != 34 || ov.Failing != st.Total || ov.NextFull != "2026-12-02T02:00:00Z" {
		t.Fatalf("overview = %+v, want the demo's pass of 34 users and %d failing", ov, st.Total)
	}
	page := get(t, c, "/failures").Body.String()
	for cause := range st.Causes {
		mustContain(t, page, `<tr data-cause="`+string(cause)+`">`)
		mustContain(t, html.UnescapeString(page), cause.Fix())
	}
}

func TestTheUsersAPISearchesFiltersAndPages(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	tests := []struct {
		query   string
		code    int
		total   int
		firstID string
	}{
		{"q=user07", http.StatusOK, 1, "u07"},
		{"outcome=FAILED&cause=INVALID_E164&sort=email", http.StatusOK, 6, "u17"},
		{"sort=email&offset=33&limit=5", http.StatusOK, 34, "u34"},
		{"outcome=NOPE", http.StatusBadRequest, 0, ""},
		{"sort=password", http.StatusBadRequest, 0, ""},
		{"limit=0", http.StatusBadRequest, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := get(t, c, "/api/v1/users?"+tc.query)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if tc.code != http.StatusOK {
				return
			}
			var u struct {
				Total int
				Users []pass.StoredUser
			}
			if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil {
				t.Fatal(err)
			}
			if u.Total != tc.total || len(u.Users) == 0 || u.Users[0].SourceID != tc.firstID {
				t.Fatalf("total %d, first %+v; want %d starting with %s", u.Total, u.Users, tc.total, tc.firstID)
			}
		})
	}
}

func TestCheckNowDecidesEveryDemoUserAsTheLastPassDid(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	users, _, err := d.store.FindUsers(t.Context(), pass.UserQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		t.Run(u.SourceID, func(t *testing.T) {
			w := get(t, c, "/api/v1/users/"+u.SourceID+"/check")
			var got User
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Check == nil {
				t.Fatalf("%d %s: %v", w.Code, w.Body, err)
			}
			if got.Check.RecordFrom != FromDirectory || got.Check.Record == nil || got.Check.Record.ID != u.SourceID {
				t.Fatalf("check now decided on a %s record %+v, want the user read from the directory", got.Check.RecordFrom, got.Check.Record)
			}
			if !got.Check.Same {
				t.Fatalf("check now: %s/%s (%s), the last pass: %s/%s", got.Check.Outcome, got.Check.Cause, got.Check.Detail, u.Outcome, u.Cause)
			}
			failed := 0
			for _, ch := range got.Check.Checks {
				if ch.State == licensing.CheckFailed {
					failed++
				}
			}
			if stops := got.Check.Outcome != licensing.WouldProvision; stops != (failed > 0) {
				t.Fatalf("outcome %s with %d failed checks", got.Check.Outcome, failed)
			}
		})
	}
}

func TestDirectoryValuesAreShownAsText(t *testing.T) {
	d := newDemo(t, func(csv string) string {
		return csv + `u35,"x@corp.example",<img src=x onerror=alert(1)>,+12125550135,true,"Calling Users"` + "\n"
	})
	c := d.console(t, "127.0.0.1:9431")
	for _, path := range []string{"/users/u35", "/users?q=onerror", "/users/u32", "/users?q=HYPERLINK"} {
		body := get(t, c, path).Body.String()
		if strings.Contains(body, "<img") || regexp.MustCompile(`href="http://evil`).MatchString(body) {
			t.Fatalf("%s: a directory value became markup", path)
		}
		if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") && !strings.Contains(body, "=HYPERLINK(&#34;http://evil.example&#34;,&#34;click&#34;)") {
			t.Fatalf("%s: the directory value is not shown as text", path)
		}
	}
}

func TestAKeptPassReportDownloadsAndNothingElseDoes(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	id := d.runs[0]
	tests := []struct {
		path, ctype string
		code        int
	}{
		{"/api/v1/passes/" + id + "/report.csv", "text/csv; charset=utf-8", http.StatusOK},
		{"/api/v1/passes/" + id + "/report.json", "application/json", http.StatusOK},
		{"/api/v1/passes/" + id + "/report.html", "text/html; charset=utf-8", http.StatusOK},
		{"/api/v1/passes/" + id + "/licensync.db", "", http.StatusNotFound},
		{"/api/v1/passes/20200101T000000Z-abcdef/report.csv", "", http.StatusNotFound},
		{"/api/v1/passes/..%2F..%2Fstate/report.csv", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			w := get(t, c, tc.path)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			if tc.code == http.StatusOK && (w.Header().Get("Content-Type") != tc.ctype || !strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") || w.Body.Len() == 0) {
				t.Fatalf("headers %v, %d bytes", w.Header(), w.Body.Len())
			}
		})
	}
	mustContain(t, get(t, c, "/downloads").Body.String(), "/api/v1/passes/"+id+"/report.csv")
}

func TestEachPassAddsOnePointToEachChart(t *testing.T) {
	d := newDemo(t, nil)
	c := d.console(t, "127.0.0.1:9431")
	points := regexp.MustCompile(`<g class="point" data-pass="`)
	before := len(points.FindAllString(get(t, c, "/passes").Body.String(), -1))
	d.pass(t)
	page := get(t, c, "/passes").Body.String()
	if after := len(points.FindAllString(page, -1)); before != 3 || after != 6 {
		t.Fatalf("points before and after a pass: %d, %d; want 3 (one per chart) then 6", before, after)
	}
	mustContain(t, page, `<title id="chart-outcomes-title">`, `<desc id="chart-outcomes-desc">2 bars, one per kept pass`, `<table id="passes">`)
}

func TestTheOverviewSaysWhetherThisReplicaLeads(t *testing.T) {
	d := newDemo(t, nil)
	tests := []struct {
		name   string
		status Status
		want   []string
		absent string
	}{
		{"a single service shows no replicas", Status{}, nil, `id="ha-h"`},
		{"a leading replica says what it leads", Status{Replicated: true, Leads: []string{"default"}}, []string{`id="ha-h"`, "This replica leads default."}, ""},
		{"a standby says so", Status{Replicated: true}, []string{"This replica stands by."}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := d.options("127.0.0.1:9431")
			o.Status = func() Status { return tc.status }
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			page := get(t, c, "/").Body.String()
			mustContain(t, page, tc.want...)
			if tc.absent != "" && strings.Contains(page, tc.absent) {
				t.Fatalf("the page shows %s", tc.absent)
			}
		})
	}
}

func TestAConsoleListeningOnEveryAddressAsksForThePasswordOverTheNetwork(t *testing.T) {
	d := newDemo(t, nil)
	hash, err := bcrypt.GenerateFromPassword([]byte("right-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	o := d.options(ln.Addr().String())
	o.Access = func() Access { return Access{Users: map[string][]byte{"desk": hash}} }
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: c}
	go srv.Serve(ln)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// Loopback, and this machine's own other addresses when it has some.
	hosts := []string{"127.0.0.1"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	for _, host := range hosts {
		for _, tc := range []struct {
			user, pass string
			want       int
		}{{"", "", http.StatusUnauthorized}, {"desk", "wrong", http.StatusUnauthorized}, {"desk", "right-pass", http.StatusOK}} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/api/v1/overview", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s as %q: status %d, want %d", host, tc.user, resp.StatusCode, tc.want)
			}
		}
	}
}
