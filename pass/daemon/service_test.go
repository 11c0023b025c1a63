package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/pass"
)

// listenNotify opens a unixgram NOTIFY_SOCKET and returns the messages it gets.
func listenNotify(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "n.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// awaitMsg returns the first message containing want, failing after 5s.
func awaitMsg(t *testing.T, msgs <-chan string, want string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no sd_notify message with %q within 5s", want)
		}
	}
}

func succeeded(_ context.Context, full bool, _ *pass.Progress) (*pass.Result, error) {
	return &pass.Result{
		Run:     pass.RunInfo{ID: "r1", Full: full, Status: "succeeded", Ended: time.Unix(1_800_000_000, 0)},
		Summary: pass.Summary{Users: 3, Outcomes: map[string]int{"PROVISIONED": 2, "FAILED": 1}, Causes: map[string]int{"INVALID_E164": 1}},
	}, nil
}

func status(r *pass.Result) string { return "pass " + r.Run.ID + " done" }

func TestServiceNotifiesSystemd(t *testing.T) {
	tests := []struct {
		name     string
		watchdog string // WATCHDOG_USEC
		pass     func(context.Context, bool, *pass.Progress) (*pass.Result, error)
		want     []string
		wantNot  string
	}{
		{"READY=1 comes with the loaded state's status, then STATUS= carries the pass summary", "",
			succeeded, []string{"READY=1\nSTATUS=state loaded", "STATUS=pass r1 done"}, "WATCHDOG=1"},
		{"with WATCHDOG_USEC set the service pings the watchdog", "100000",
			succeeded, []string{"READY=1", "WATCHDOG=1"}, ""},
		{"a failed pass puts the error in STATUS=", "",
			func(context.Context, bool, *pass.Progress) (*pass.Result, error) {
				return nil, errors.New("directory unreachable")
			},
			[]string{"READY=1", "STATUS=incremental pass failed: directory unreachable"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs := listenNotify(t)
			t.Setenv("WATCHDOG_USEC", tc.watchdog)
			svc := New(Options{Schedule: Schedule{Every: time.Hour}, Pass: tc.pass, Status: status})
			svc.StateLoaded(time.Time{}, "state loaded")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { svc.Run(ctx); close(done) }()
			for _, w := range tc.want {
				awaitMsg(t, msgs, w)
			}
			if tc.wantNot != "" {
				time.Sleep(100 * time.Millisecond)
				for len(msgs) > 0 {
					if m := <-msgs; strings.Contains(m, tc.wantNot) {
						t.Errorf("got %q without a watchdog asked for", m)
					}
				}
			}
			cancel()
			<-done
			awaitMsg(t, msgs, "STOPPING=1")
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServiceHTTP(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	clock := newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	ran := make(chan bool, 10)
	svc := New(Options{
		Schedule: Schedule{FullHour: 2}, // nothing due: only triggers run
		Clock:    clock,
		Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
			defer func() { ran <- full }()
			return succeeded(ctx, full, prog)
		},
		Status:       status,
		TriggerToken: func() string { return testToken },
	})
	svc.StateLoaded(time.Time{}, "fresh")
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if code, _ := get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz before any pass = %d, want 503", code)
	}
	if code, body := get(t, srv.URL+"/metrics"); code != http.StatusOK || strings.Contains(body, "licensync_last_pass_users{") {
		t.Errorf("GET /metrics before any pass = %d with last-pass figures:\n%s", code, body)
	}

	tests := []struct {
		name     string
		query    string
		wantCode int
		wantFull bool
	}{
		{"POST /v1/passes starts an incremental pass", "", http.StatusAccepted, false},
		{"POST /v1/passes?full=true starts a full pass", "?full=true", http.StatusAccepted, true},
		{"POST /v1/passes?full=maybe is refused", "?full=maybe", http.StatusBadRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := trigger(t, srv.URL+"/v1/passes"+tc.query, map[string]string{"Authorization": "Bearer " + testToken})
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantCode != http.StatusAccepted {
				return
			}
			select {
			case full := <-ran:
				if full != tc.wantFull {
					t.Errorf("pass full = %v, want %v", full, tc.wantFull)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no pass ran")
			}
		})
	}
	if resp, err := http.Get(srv.URL + "/v1/passes"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/passes = %v, %v; want 405", resp, err)
	}
	clock.awaitWaiter(t) // the last pass has been recorded
	if code, _ := get(t, srv.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz after a pass = %d, want 200", code)
	}
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`licensync_passes_total{kind="incremental",result="succeeded"} 1`,
		`licensync_passes_total{kind="full",result="succeeded"} 1`,
		`licensync_passes_total{kind="full",result="failed"} 0`,
		`licensync_pass_duration_seconds_count 2`,
		`licensync_last_success_timestamp_seconds 1.8e+09`,
		`licensync_last_pass_users{outcome="PROVISIONED"} 2`,
		`licensync_last_pass_users{outcome="DRIFT"} 0`,
		`licensync_last_pass_users_by_cause{cause="INVALID_E164"} 1`,
		"# TYPE licensync_pass_duration_seconds histogram",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// testToken is the trigger token of the tests' services.
const testToken = "0123456789abcdef-trigger-token"

// trigger POSTs to url with the headers and returns the response, its body
// read in full so the connection is released.
func trigger(t *testing.T, url string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func TestTheTriggerTakesTheTokenAndRefusesWhatAWebPageCouldSend(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	bearer := "Bearer " + testToken
	tests := []struct {
		name     string
		token    string // the configured token; "" turns the trigger off
		headers  map[string]string
		wantCode int
		wantBody string
	}{
		{"with no token configured the trigger is off and says how to turn it on", "",
			map[string]string{"Authorization": bearer}, http.StatusForbidden, "the trigger is off: set daemon.trigger_token"},
		{"a request without a token is unauthorised", testToken,
			nil, http.StatusUnauthorized, "Authorization: Bearer"},
		{"a Basic Authorization is unauthorised", testToken,
			map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, "Authorization: Bearer"},
		{"a wrong token of the same length is forbidden", testToken,
			map[string]string{"Authorization": "Bearer " + strings.Repeat("x", len(testToken))}, http.StatusForbidden, "the trigger token is wrong"},
		{"a prefix of the token is forbidden", testToken,
			map[string]string{"Authorization": bearer[:len(bearer)-1]}, http.StatusForbidden, "the trigger token is wrong"},
		{"the token from another origin is forbidden", testToken,
			map[string]string{"Authorization": bearer, "Origin": "http://evil.example"}, http.StatusForbidden, "another origin"},
		{"the token from an opaque origin is forbidden", testToken,
			map[string]string{"Authorization": bearer, "Origin": "null"}, http.StatusForbidden, "another origin"},
		{"a url-encoded form is refused", testToken,
			map[string]string{"Authorization": bearer, "Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, "a form is refused"},
		{"a multipart form is refused", testToken,
			map[string]string{"Authorization": bearer, "Content-Type": "multipart/form-data; boundary=x"}, http.StatusUnsupportedMediaType, "a form is refused"},
		{"a text/plain body is refused", testToken,
			map[string]string{"Authorization": bearer, "Content-Type": "text/plain;charset=UTF-8"}, http.StatusUnsupportedMediaType, "a form is refused"},
		{"the token starts a pass", testToken,
			map[string]string{"Authorization": bearer}, http.StatusAccepted, `"status"`},
		{"the token with the scheme in lower case starts a pass", testToken,
			map[string]string{"Authorization": "bearer " + testToken}, http.StatusAccepted, `"status"`},
		{"the token from the service's own origin with a JSON body starts a pass", testToken,
			map[string]string{"Authorization": bearer, "Origin": "SELF", "Content-Type": "application/json"}, http.StatusAccepted, `"status"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran := make(chan bool, 10)
			core, logs := observer.New(zap.DebugLevel)
			svc := New(Options{
				Schedule: Schedule{FullHour: 2},
				Clock:    newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)),
				Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
					defer func() { ran <- full }()
					return succeeded(ctx, full, prog)
				},
				Status:       status,
				Log:          zap.New(core),
				TriggerToken: func() string { return tc.token },
			})
			srv := httptest.NewServer(svc.Handler())
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { svc.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			headers := map[string]string{}
			for k, v := range tc.headers {
				headers[k] = strings.ReplaceAll(v, "SELF", srv.URL)
			}
			resp := trigger(t, srv.URL+"/v1/passes", headers)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("status %d, body %s; want %d saying %q", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.wantCode == http.StatusAccepted {
				select {
				case <-ran:
				case <-time.After(5 * time.Second):
					t.Fatal("an accepted trigger ran no pass")
				}
			} else {
				select {
				case <-ran:
					t.Fatal("a refused trigger ran a pass")
				case <-time.After(200 * time.Millisecond):
				}
				if logs.FilterMessage("pass trigger refused").Len() != 1 {
					t.Errorf("the refusal was not logged: %v", logs.All())
				}
			}
			for _, e := range logs.All() {
				if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), testToken) {
					t.Errorf("the token is in the log: %v", e)
				}
			}
			if strings.Contains(string(body), testToken) {
				t.Errorf("the token is in the answer: %s", body)
			}
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				if code, _ := get(t, srv.URL+path); code != http.StatusOK && code != http.StatusServiceUnavailable {
					t.Errorf("GET %s without a token = %d, want it open", path, code)
				}
			}
		})
	}
}

func TestStateWithASuccessfulPassMakesTheServiceReadyAtOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	svc := New(Options{Pass: succeeded, Status: status})
	if svc.Ready() {
		t.Fatal("ready before the state was loaded")
	}
	svc.StateLoaded(time.Unix(1_700_000_000, 0), "loaded")
	if !svc.Ready() {
		t.Error("not ready after loading a state with a successful pass")
	}
	var b strings.Builder
	if _, err := svc.Metrics().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "licensync_last_success_timestamp_seconds 1.7e+09\n") {
		t.Errorf("the stored success is not exported:\n%s", b.String())
	}
}

func TestPruneReports(t *testing.T) {
	runs := []string{"20261201T020000Z-aaaaaa", "20261202T020000Z-bbbbbb", "20261130T020000Z-cccccc", "20261203T020000Z-dddddd"}
	tests := []struct {
		name     string
		keep     int
		wantLeft []string
		wantGone int
	}{
		{"the newest runs are kept and the oldest removed", 2, []string{"20261202T020000Z-bbbbbb", "20261203T020000Z-dddddd"}, 2},
		{"keeping more than there are removes nothing", 10, runs, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range append(runs, "latest", "notes") {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			gone, err := PruneReports(dir, tc.keep)
			if err != nil || gone != tc.wantGone {
				t.Fatalf("PruneReports = %d, %v; want %d removed", gone, err, tc.wantGone)
			}
			for _, d := range append(tc.wantLeft, "latest", "notes") {
				if _, err := os.Stat(filepath.Join(dir, d)); err != nil {
					t.Errorf("%s was removed", d)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(tc.wantLeft)+2 {
				t.Errorf("%d entries left, want %d", len(entries), len(tc.wantLeft)+2)
			}
		})
	}
}
