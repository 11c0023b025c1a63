package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/pass"
)

// copyDemo copies the demo into a temp folder and returns its config path;
// rewrite, when set, replaces the directory CSV.
func copyDemo(t *testing.T, directory string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "demo")
	for _, f := range []string{"licensync.yaml", "directory.csv", "org/locations.csv", "org/numbers.csv", "org/licenses.csv", "org/people.csv"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "directory.csv" && directory != "" {
			b = []byte(directory)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "licensync.yaml")
}

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

const clean = "id,email,display_name,work_phone,enabled,groups\n" +
	"u01,user01@corp.example,A,+12125550101,true,Calling Users\n" +
	"u02,user02@corp.example,B,+12125550102,true,Calling Users\n"

func TestCheckExitsOneWhileSomethingWouldChangeAndZeroAfterTheRun(t *testing.T) {
	cfg := copyDemo(t, clean)
	if code, _, errOut := run(t, "check", "-c", cfg); code != 1 || !strings.Contains(errOut, "2 user(s) would change") {
		t.Fatalf("check before run: exit %d, stderr %q", code, errOut)
	}
	if code, out, errOut := run(t, "run", "-c", cfg); code != 0 || !strings.Contains(out, "PROVISIONED 2") {
		t.Fatalf("run: exit %d, out %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := run(t, "check", "-c", cfg); code != 0 || !strings.Contains(out, "ALREADY_PROVISIONED 2") {
		t.Fatalf("check after run: exit %d, out %q, stderr %q", code, out, errOut)
	}
}

func TestCheckExitsOneWhenAUserFailed(t *testing.T) {
	cfg := copyDemo(t, "")
	run(t, "run", "-c", cfg)
	code, _, errOut := run(t, "check", "-c", cfg)
	for _, want := range []string{"16 user(s) failing (", "NUMBER_NOT_PROVISIONED 1, ", "WEBEX_USER_NOT_FOUND 1, ", "), the oldest for under a minute"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Fatalf("check: exit %d, stderr %q; want it to say %q", code, errOut, want)
		}
	}
}

func TestCheckWithAMaxAgeIgnoresYoungerFailures(t *testing.T) {
	cfg := copyDemo(t, "")
	run(t, "run", "-c", cfg)
	if code, out, errOut := run(t, "check", "-c", cfg, "--max-age", "1h"); code != 0 || !strings.Contains(out, "check: no failure older than 1h0m0s and no change pending") {
		t.Fatalf("check --max-age 1h right after the run: exit %d, out %q, stderr %q", code, out, errOut)
	}
}

func TestExitStatuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("source: {kind: ftp}\ncolour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingOrg := copyDemo(t, "")
	if err := os.Remove(filepath.Join(filepath.Dir(missingOrg), "directory.csv")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"a bad config exits 2 naming every field", []string{"validate", "-c", bad}, 2, "source.kind"},
		{"a bad config lists the unknown key too", []string{"plan", "-c", bad}, 2, "colour"},
		{"a missing config file exits 2", []string{"plan", "-c", "/nonexistent/licensync.yaml"}, 2, "no such file"},
		{"an unknown flag exits 2", []string{"plan", "--frobnicate"}, 2, "unknown flag"},
		{"an unknown command exits 2", []string{"frobnicate"}, 2, "unknown command"},
		{"a bad report format exits 2", []string{"report", "--format", "xls"}, 2, "--format"},
		{"a missing directory file makes the pass fail with 1", []string{"run", "-c", missingOrg}, 1, "directory.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, errOut, tc.code, tc.stderr)
			}
		})
	}
}

func TestReportExportsTheUnprovisionedUsers(t *testing.T) {
	cfg := copyDemo(t, "")
	run(t, "run", "-c", cfg)
	out := filepath.Join(t.TempDir(), "failed.csv")
	if code, _, errOut := run(t, "report", "-c", cfg, "--unprovisioned", "--out", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 17 || !strings.HasPrefix(lines[0], "source_id,email,display_name,work_phone,e164,outcome,cause,detail") {
		t.Fatalf("got %d lines:\n%s", len(lines), b)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, ",FAILED,") {
			t.Fatalf("a non-failed user was exported: %s", l)
		}
	}
	code, js, _ := run(t, "report", "-c", cfg, "--unprovisioned", "--format", "json")
	if code != 0 || !strings.Contains(js, `"NUMBER_CLAIMED_TWICE": 2`) {
		t.Fatalf("json export: exit %d\n%s", code, js)
	}
	code, hist, _ := run(t, "history", "-c", cfg)
	if code != 0 || !strings.Contains(hist, "succeeded") || !strings.Contains(hist, "full") {
		t.Fatalf("history: exit %d\n%s", code, hist)
	}
}

func TestASecondInstanceOnTheSameStateRefusesNamingThePid(t *testing.T) {
	cfg := copyDemo(t, "")
	release, err := pass.Lock(filepath.Join(filepath.Dir(cfg), "state", "licensync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	code, _, errOut := run(t, "run", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("held by pid %d", os.Getpid())) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestReportRunReExportsTheReportAPassWrote(t *testing.T) {
	cfg := copyDemo(t, "")
	_, out, _ := run(t, "run", "-c", cfg)
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	code, csvOut, errOut := run(t, "report", "-c", cfg, "--run", id)
	if code != 0 || strings.Count(csvOut, "\n") != 35 || !strings.Contains(csvOut, ",PROVISIONED,") {
		t.Fatalf("report --run %s: exit %d, stderr %q\n%s", id, code, errOut, csvOut)
	}
}

func TestReportOfAnUnknownPassIsAUsageError(t *testing.T) {
	cfg := copyDemo(t, "")
	run(t, "run", "-c", cfg)
	for _, args := range [][]string{{"--run", "20200101T000000Z-000000"}, {"--run", "20200101T000000Z-000000", "--unprovisioned"}} {
		code, out, errOut := run(t, append([]string{"report", "-c", cfg}, args...)...)
		if code != 2 || !strings.Contains(errOut, "--run: state store: no pass with id 20200101T000000Z-000000") || out != "" {
			t.Fatalf("report %v: exit %d, stdout %q, stderr %q; want exit 2 naming the id", args, code, out, errOut)
		}
	}
}

func TestTheSummaryLineListsEachOutcomesOwnCauses(t *testing.T) {
	sum := pass.Summary{Users: 9,
		Outcomes: map[string]int{"PROVISIONED": 2, "SKIPPED": 3, "FAILED": 4},
		Causes:   map[string]int{"DISABLED": 1, "OUT_OF_SCOPE": 2, "INVALID_E164": 3, "API_ERROR": 1}}
	line := summaryLine(&pass.Result{Run: pass.RunInfo{Mode: "run", ID: "R1"}, Summary: sum})
	tests := []struct {
		name, want string
	}{
		{"the skip reasons follow SKIPPED", "SKIPPED 3 (DISABLED 1, OUT_OF_SCOPE 2)"},
		{"the failure causes follow FAILED", "FAILED 4 (API_ERROR 1, INVALID_E164 3)"},
		{"an outcome without causes has no parenthesis", "PROVISIONED 2, SKIPPED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(line, tc.want) {
				t.Errorf("summary %q lacks %q", line, tc.want)
			}
		})
	}
}

func TestTheSummaryLineSaysWhenRunWouldRefuseTheRemovals(t *testing.T) {
	tests := []struct {
		name string
		sum  pass.Summary
		want string
		not  string
	}{
		{name: "a plan over the threshold names the refusal",
			sum:  pass.Summary{Users: 10, Removals: 4, Refusal: "4 of 10 users would lose a licence; over removals.max_fraction 0.05"},
			want: "run would refuse this pass: 4 of 10 users would lose a licence"},
		{name: "an allowed pass with removals counts them",
			sum:  pass.Summary{Users: 10, Removals: 1},
			want: "1 user(s) lose a licence in this pass", not: "refuse"},
		{name: "a pass without removals says nothing about them",
			sum: pass.Summary{Users: 10}, not: "licence in this pass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := summaryLine(&pass.Result{Run: pass.RunInfo{Mode: "plan", ID: "R1"}, Summary: tc.sum})
			if tc.want != "" && !strings.Contains(line, tc.want) {
				t.Errorf("summary %q lacks %q", line, tc.want)
			}
			if tc.not != "" && strings.Contains(line, tc.not) {
				t.Errorf("summary %q has %q", line, tc.not)
			}
		})
	}
}
