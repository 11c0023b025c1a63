package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/pass"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/controlhub")

func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "controlhub", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file (run go test -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// demoUsersCSV builds a Control Hub user export of the demo organisation the
// way a real one arrives: a byte order mark, CRLF lines, the people of
// org/people.csv with their Calling column TRUE when they hold LIC-PRO, a
// quoted comma, a number a spreadsheet stripped of its '+', a blank row, a
// column licensync does not know, a user the directory does not have, and
// one user twice.
func demoUsersCSV(t *testing.T, cfg string) string {
	t.Helper()
	fh, err := os.Open(filepath.Join(filepath.Dir(cfg), "org", "people.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	people, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	b.WriteString("\ufeff")
	_ = w.Write([]string{"First Name", "Last Name", "Display Name", "User ID/Email (Required)", "User Status", "Phone Number", "Extension", "Location",
		"Webex Calling - Professional [SUB-1]", "Webex Calling - Basic [SUB-2]", "Webex Meetings [SUB-1]", "Department"})
	for i, p := range people[1:] {
		calling := "FALSE"
		if strings.Contains(p[3], "LIC-PRO") {
			calling = "TRUE"
		}
		phone := p[4]
		if p[0] == "P-11" {
			phone = strings.TrimPrefix(phone, "+")
		}
		_ = w.Write([]string{"", "", p[2], p[1], "Active", phone, "", "", calling, "FALSE", "FALSE", "Ops, East"})
		if i == 3 {
			_ = w.Write([]string{"", "", "", "", "", "", "", "", "", "", "", ""})
		}
	}
	_ = w.Write([]string{"Gus", "Ghost", "Ghost, Gus", "ghost@corp.example", "Active", "12125550177", "", "", "FALSE", "FALSE", "TRUE", ""})
	_ = w.Write([]string{"", "", "Again", "USER01@corp.example", "Active", "", "", "", "FALSE", "FALSE", "FALSE", ""})
	w.Flush()
	path := filepath.Join(filepath.Dir(cfg), "exported_users.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readRows(t *testing.T, path string) map[string][]string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range recs[1:] {
		out[r[1]] = r
	}
	return out
}

func TestExplainOverTheDemoGivesEachUserWithoutCallingItsCause(t *testing.T) {
	cfg := copyDemo(t, "")
	users := demoUsersCSV(t, cfg)
	dir := filepath.Join(t.TempDir(), "explain")
	code, out, errOut := run(t, "explain", "--users-csv", users, "-c", cfg, "--report-dir", dir, "--log-level", "warn")
	if code != 0 {
		t.Fatalf("explain: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "user01@corp.example appears on lines 2, ") {
		t.Fatalf("the duplicated user is not named on stderr: %q", errOut)
	}
	if !strings.Contains(out, "explain: 32 user(s) without Calling") || !strings.Contains(out, "1 not in the directory") {
		t.Fatalf("summary line: %q", out)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "explain-report.csv", string(report))
	unlicensed, err := os.ReadFile(filepath.Join(dir, "unlicensed.csv"))
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "explain-unlicensed.csv", string(unlicensed))

	rows := readRows(t, filepath.Join(dir, "report.csv"))
	tests := []struct {
		name, email, outcome, cause, detail string
	}{
		{"a user licensync would license says so", "user01@corp.example", "WOULD_PROVISION", "", ""},
		{"a spreadsheet-stripped directory number is INVALID_E164", "user17@corp.example", "FAILED", "INVALID_E164", "no leading '+'"},
		{"a number another owner holds", "user26@corp.example", "FAILED", "NUMBER_ASSIGNED_TO_OTHER", "workspace WS-LOBBY"},
		{"a public mail domain", "someone@gmail.com", "SKIPPED", "CONSUMER_DOMAIN", "gmail.com"},
		{"a disabled directory account", "user13@corp.example", "SKIPPED", "DISABLED", ""},
		{"a Control Hub user the directory does not have", "ghost@corp.example", "SKIPPED", "OUT_OF_SCOPE", "the directory source has no user with this email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := rows[tc.email]
			if !ok {
				t.Fatalf("%s is not in the report", tc.email)
			}
			if r[5] != tc.outcome || r[6] != tc.cause || !strings.Contains(r[7], tc.detail) {
				t.Fatalf("%s: %s %s %q; want %s %s containing %q", tc.email, r[5], r[6], r[7], tc.outcome, tc.cause, tc.detail)
			}
		})
	}
	for _, email := range []string{"user11@corp.example", "user12@corp.example", "user21@corp.example"} {
		if _, ok := rows[email]; ok {
			t.Fatalf("%s holds Calling or is not in the export, yet is in the report", email)
		}
	}

	var rep struct {
		Run     pass.RunInfo `json:"run"`
		Summary pass.Summary `json:"summary"`
		Users   []pass.Row   `json:"users"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Run.Mode != "explain" || rep.Summary.Users != len(rows) || len(rep.Users) != len(rows) || rep.Summary.Causes["INVALID_E164"] != 6 {
		t.Fatalf("report.json: run %+v, summary %+v, %d users; want %d explained users", rep.Run, rep.Summary, len(rep.Users), len(rows))
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "ghost@corp.example") || strings.Contains(string(html), `=HYPERLINK("http`) {
		t.Fatalf("report.html lacks the users or carries a directory value unescaped")
	}

	un := readRows(t, filepath.Join(dir, "unlicensed.csv"))
	for _, tc := range []struct{ email, detail string }{
		{"user21@corp.example", "not in Webex: no person has this email"},
		{"user01@corp.example", "in Webex without any licence"},
		{"someone@gmail.com", "gmail.com is a public mail domain: the account cannot be converted into the organisation"},
	} {
		if r, ok := un[tc.email]; !ok || !strings.Contains(r[7], tc.detail) {
			t.Fatalf("unlicensed.csv: %s = %q, want a detail saying %q", tc.email, r, tc.detail)
		}
	}
	for _, email := range []string{"user11@corp.example", "user13@corp.example"} {
		if _, ok := un[email]; ok {
			t.Fatalf("unlicensed.csv lists %s, who is licensed or disabled", email)
		}
	}
}

func TestExplainChangesNothing(t *testing.T) {
	cfg := copyDemo(t, "")
	users := demoUsersCSV(t, cfg)
	if code, _, errOut := run(t, "explain", "--users-csv", users, "-c", cfg, "--log-level", "warn"); code != 0 {
		t.Fatalf("explain: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "reports", "explain", "report.csv")); err != nil {
		t.Fatalf("explain does not default to report_dir/explain/: %v", err)
	}
	if _, hist, _ := run(t, "history", "-c", cfg); strings.Contains(hist, "plan") {
		t.Fatalf("explain recorded a pass in the service's history:\n%s", hist)
	}
	if code, out, _ := run(t, "run", "-c", cfg, "--log-level", "warn"); code != 0 || !strings.Contains(out, "PROVISIONED 13") {
		t.Fatalf("a run after explain: exit %d, %q; want the 13 users explain left alone provisioned now", code, out)
	}
}

func TestExplainRefusesWhatItCannotRead(t *testing.T) {
	cfg := copyDemo(t, "")
	dir := filepath.Dir(cfg)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noLicences := write("nolic.csv", "User ID/Email (Required),Display Name\na@corp.example,A\n")
	broken := write("broken.csv", "User ID/Email (Required),Webex Calling - Professional [SUB-1]\na@corp.example,TRUE\nb@corp.example,maybe\n")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"without --users-csv", []string{"explain", "-c", cfg}, "--users-csv: name the Control Hub user export"},
		{"a missing file", []string{"explain", "-c", cfg, "--users-csv", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"an export without licences", []string{"explain", "-c", cfg, "--users-csv", noLicences}, "has no Webex Calling licence column: export it again with User licenses included"},
		{"a broken row names its line and column", []string{"explain", "-c", cfg, "--users-csv", broken}, `broken.csv line 3, column "Webex Calling - Professional [SUB-1]": "maybe" is not TRUE, FALSE or empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d saying %q", code, errOut, exitUsage, tc.stderr)
			}
		})
	}
}

// TestExplainAndExportNeverPrintTheTargetToken runs both commands against a
// Webex API that refuses the token, the way the service answers 401.
func TestExplainAndExportNeverPrintTheTargetToken(t *testing.T) {
	const token = "tok-3xpl41n-s3cr3t"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			t.Errorf("the request carried %q", r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trackingid", "ROUTER_TEST")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"The request requires a valid access token set in the Authorization request header.","errors":[{"description":"The request requires a valid access token set in the Authorization request header."}],"trackingId":"ROUTER_TEST"}`))
	}))
	defer srv.Close()
	t.Setenv("LICENSYNC_TEST_TOKEN", token)
	cfg := copyDemo(t, "")
	y, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(y), "kind: offline", "kind: webex\n  webex: {token: \"${LICENSYNC_TEST_TOKEN}\", base_url: \""+srv.URL+"\"}", 1)
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	users := demoUsersCSV(t, cfg)
	dir := filepath.Dir(cfg)
	for _, args := range [][]string{
		{"explain", "--users-csv", users, "-c", cfg, "--log-level", "debug"},
		{"plan", "-c", cfg, "--log-level", "debug", "--export", "controlhub-csv", filepath.Join(dir, "bulk.csv")},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, out, errOut := run(t, args...)
			if code == exitOK || !strings.Contains(errOut, "token rejected (target.webex.token)") {
				t.Fatalf("exit %d, stderr %q; want the refusal reported naming the setting", code, errOut)
			}
			if strings.Contains(out+errOut, token) {
				t.Fatalf("the token is in the output:\n%s\n%s", out, errOut)
			}
		})
	}
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && path != cfg {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), token) {
				t.Errorf("%s carries the token", path)
			}
		}
		return nil
	})
}
