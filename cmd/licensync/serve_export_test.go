package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/pass"
)

// TestServeExportsThePlanTheConsoleAsksFor asks serve's console for the
// plan of the demo, before any pass applied it: a post without the form's
// token is refused, the console's own form gets a plan pass whose CSV lists
// exactly the plan's WOULD_PROVISION users, byte for byte what plan
// --export writes for the same demo.
func TestServeExportsThePlanTheConsoleAsksFor(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	cfg := copyDemo(t, "")
	dir := filepath.Dir(cfg)
	cliCSV := filepath.Join(t.TempDir(), "bulk.csv")
	if code, out, errOut := run(t, "plan", "-c", cfg, "--report-dir", filepath.Join(t.TempDir(), "plan"), "--log-level", "warn", "--export", "controlhub-csv", cliCSV); code != 0 {
		t.Fatalf("plan --export: exit %d\n%s\n%s", code, out, errOut)
	}
	// No scheduled pass runs while the test looks: what serve plans is
	// the same demo the command line planned.
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("daemon: {listen: \"127.0.0.1:0\", keep_runs: 5, incremental_every: 0s}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	pr, pw := io.Pipe()
	logs := watchLog(pr)
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- execute(ctx, []string{"serve", "-c", cfg, "--log-format", "json"}, io.Discard, pw)
		pw.Close()
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-exit:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10s")
		}
	}
	defer stop()
	base := "http://" + logs.await(t, "listening")["addr"].(string)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/downloads/plan", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	page := func() string {
		t.Helper()
		resp, err := client.Get(base + "/downloads")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page())
	if token == nil {
		t.Fatal("the Downloads page has no plan form with a token")
	}
	if code := post(""); code != http.StatusForbidden {
		t.Fatalf("a post without the form's token = %d, want 403", code)
	}
	if code := post(token[1]); code != http.StatusSeeOther {
		t.Fatalf("the console's form = %d, want 303 back to the Downloads page", code)
	}
	logs.await(t, "plan exported")
	link := regexp.MustCompile(`id="plan-csv" href="/api/v1/passes/([^/"]+)/controlhub-bulk.csv"`).FindStringSubmatch(page())
	if link == nil {
		t.Fatal("the Downloads page offers no plan CSV after the plan")
	}
	id := link[1]
	resp, err := client.Get(base + "/api/v1/passes/" + id + "/controlhub-bulk.csv")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("the CSV answered %d with %v", resp.StatusCode, resp.Header)
	}
	want, err := os.ReadFile(cliCSV)
	if err != nil {
		t.Fatal(err)
	}
	if string(served) != string(want) {
		t.Fatalf("the console's CSV:\n%s\nplan --export wrote:\n%s", served, want)
	}

	var rep struct {
		Mode  string     `json:"mode"`
		Users []pass.Row `json:"users"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "reports", id, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var planned, rows []string
	for _, r := range rep.Users {
		if r.Outcome == "WOULD_PROVISION" {
			planned = append(planned, r.Email)
		}
	}
	file := parseBulk(t, filepath.Join(dir, "reports", id, "controlhub-bulk.csv"))
	for _, u := range file.Users {
		rows = append(rows, u.Email)
	}
	slices.Sort(planned)
	slices.Sort(rows)
	if len(planned) != 13 || !slices.Equal(planned, rows) {
		t.Fatalf("the CSV's users %q, the plan's WOULD_PROVISION %q; want the demo's 13, the same", rows, planned)
	}
	if _, err := os.Stat(filepath.Join(dir, "reports", id, "controlhub-bulk.import.txt")); err != nil {
		t.Fatalf("no import notes beside the CSV: %v", err)
	}
	// The plan touched nothing in the target: once serve stops, a plan
	// still sees the same 13 to provision.
	stop()
	if code, out, errOut := run(t, "plan", "-c", cfg, "--report-dir", filepath.Join(t.TempDir(), "again"), "--log-level", "warn"); !strings.Contains(out, "WOULD_PROVISION 13") {
		t.Fatalf("a plan after the console's: exit %d\n%s\n%s", code, out, errOut)
	}
}
