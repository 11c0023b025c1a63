package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/pass"
)

// doctorJSON runs doctor --format json and decodes what it printed.
func doctorJSON(t *testing.T, cfg string) (int, doctor.Result) {
	t.Helper()
	code, out, errOut := run(t, "doctor", "-c", cfg, "--format", "json")
	var res doctor.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("doctor --format json: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	return code, res
}

// byName indexes checks by name; a name met twice fails the test.
func byName(t *testing.T, checks []doctor.Check) map[string]doctor.Check {
	t.Helper()
	m := map[string]doctor.Check{}
	for _, c := range checks {
		if _, dup := m[c.Name]; dup {
			t.Fatalf("check %q reported twice", c.Name)
		}
		m[c.Name] = c
	}
	return m
}

// tree lists every file under dir with its size and modification time.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = strconv.FormatInt(fi.Size(), 10) + " " + fi.ModTime().Format(time.RFC3339Nano)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDoctorPassesEveryCheckOnTheFreshDemoAndWritesNothing(t *testing.T) {
	cfg := copyDemo(t, "")
	before := tree(t, filepath.Dir(cfg))
	code, res := doctorJSON(t, cfg)
	if code != 0 || !res.OK {
		t.Fatalf("doctor on the fresh demo: exit %d, ok %v, checks %+v", code, res.OK, res.Checks)
	}
	checks := byName(t, res.Checks)
	for _, name := range []string{"configuration", "directory file", "offline org directory", "offline org seed", "state directory",
		"state schema", "instance lock", "state disk space", "report directory", "report disk space"} {
		if c, ok := checks[name]; !ok || !c.OK || c.Tried == "" {
			t.Errorf("check %q: %+v (present %v); want it passed, saying what it tried", name, c, ok)
		}
	}
	if after := tree(t, filepath.Dir(cfg)); len(after) != len(before) {
		t.Errorf("doctor changed the demo folder: before %v, after %v", before, after)
	}
}

func TestDoctorAfterARunReadsTheStoresWithoutTouchingThem(t *testing.T) {
	cfg := copyDemo(t, "")
	if code, _, errOut := run(t, "run", "-c", cfg); code != 0 {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
	before := tree(t, filepath.Dir(cfg))
	code, res := doctorJSON(t, cfg)
	after := tree(t, filepath.Dir(cfg))
	for p, v := range before {
		if after[p] != v {
			t.Errorf("doctor changed %s: %s, then %s", p, v, after[p])
		}
	}
	if len(after) != len(before) {
		t.Errorf("doctor created files: before %d, after %d: %v", len(before), len(after), after)
	}
	checks := byName(t, res.Checks)
	// The demo's lobby subscription is used up and its contractors
	// subscription expired: a pass fails those users, and doctor says so.
	want := map[string]string{
		`template "lobby" licence`:       "has no free unit",
		`template "contractors" licence`: "which is EXPIRED",
		`template "calling" licence`:     "unit(s) free",
		"state schema":                   "version " + strconv.Itoa(pass.SchemaVersion()) + ", as this licensync writes",
		"offline org":                    "3 location(s), 38 number(s), 4 licence(s)",
		"calling location":               "2 location(s) with Calling",
	}
	for name, detail := range want {
		if c := checks[name]; !strings.Contains(c.Detail, detail) {
			t.Errorf("check %q: %+v; want its detail to say %q", name, c, detail)
		}
	}
	if code != 1 || res.OK || checks[`template "lobby" licence`].OK || checks[`template "lobby" licence`].Fix == "" {
		t.Errorf("doctor with a used-up template licence: exit %d, ok %v, lobby %+v; want exit 1 naming the fix", code, res.OK, checks[`template "lobby" licence`])
	}
}

func TestDoctorFailsTheReportDirectoryCheckWhenItsParentIsAFile(t *testing.T) {
	cfg := copyDemo(t, "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A path under a regular file cannot be created even by root.
	b = []byte(strings.Replace(string(b), "report_dir: reports", "report_dir: directory.csv/reports", 1))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, res := doctorJSON(t, cfg)
	var failed []string
	for _, c := range res.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	if code != 1 || res.OK || strings.Join(failed, ",") != "report directory,report disk space" {
		t.Fatalf("doctor with report_dir under a file: exit %d, ok %v, failed %q; want exit 1 with the report checks failed", code, res.OK, failed)
	}
	c := byName(t, res.Checks)["report directory"]
	if !strings.Contains(c.Detail, "directory.csv is a file, not a directory") || !strings.Contains(c.Fix, "report directory") {
		t.Errorf("report directory check: %+v; want it to name the file in the way and the fix", c)
	}
	code, out, _ := run(t, "doctor", "-c", cfg)
	if code != 1 || !strings.Contains(out, "✗ report directory: access(W_OK) on ") || !strings.Contains(out, "— fix: ") ||
		!strings.Contains(out, "✓ state schema: ") || !strings.Contains(out, "check(s): ") {
		t.Errorf("doctor text output: exit %d\n%s", code, out)
	}
}

func TestDoctorNamesTheProcessHoldingTheInstanceLock(t *testing.T) {
	cfg := copyDemo(t, "")
	if code, _, errOut := run(t, "run", "-c", cfg); code != 0 {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
	release, err := pass.Lock(filepath.Join(filepath.Dir(cfg), "state", "licensync.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, res := doctorJSON(t, cfg)
	release()
	c := byName(t, res.Checks)["instance lock"]
	if !c.OK || !strings.Contains(c.Detail, "held by pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("instance lock while held: %+v; want it to name pid %d", c, os.Getpid())
	}
	_, res = doctorJSON(t, cfg)
	if c := byName(t, res.Checks)["instance lock"]; !c.OK || c.Detail != "free" {
		t.Errorf("instance lock once released: %+v; want free", c)
	}
}

func TestDoctorUsageErrorsExitTwo(t *testing.T) {
	cfg := copyDemo(t, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown format", []string{"doctor", "-c", cfg, "--format", "xml"}, `--format: "xml" is not text or json`},
		{"a missing configuration", []string{"doctor", "-c", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml"},
		{"an argument", []string{"doctor", "-c", cfg, "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, errOut := run(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

func TestDoctorFailsAPostgreSQLStateStoreItCannotReach(t *testing.T) {
	cfg := copyDemo(t, "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := "postgres://lic@127.0.0.1:1/licensync?sslmode=disable&connect_timeout=5"
	b = []byte(strings.Replace(string(b), "state: state/licensync.db", "state: "+closed+"\nstate_password: Pg-s3cret", 1))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "doctor", "-c", cfg, "--format", "json")
	var res doctor.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	checks := byName(t, res.Checks)
	c := checks["state store"]
	if code != 1 || c.OK || !strings.Contains(c.Tried, "127.0.0.1:1") || !strings.Contains(c.Fix, "pg_hba.conf") || strings.Contains(out, "Pg-s3cret") {
		t.Errorf("doctor with an unreachable PostgreSQL state: exit %d, state store check %+v; want exit 1 naming the server and the fix, without the password", code, c)
	}
	for _, name := range []string{"state directory", "state schema"} {
		if _, ok := checks[name]; ok {
			t.Errorf("check %q made of a PostgreSQL store that did not answer", name)
		}
	}
}
