package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing/controlhub"
	"github.com/licensync/licensync/pass"
)

func parseBulk(t *testing.T, path string) *controlhub.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := controlhub.Parse(fh, path)
	if err != nil {
		t.Fatalf("the export does not read back as a Control Hub file: %v", err)
	}
	return f
}

func cell(f *controlhub.File, u *controlhub.User, header string) string {
	for i, c := range f.Licences {
		if c.Header == header {
			return u.Licences[i].String()
		}
	}
	return "no column"
}

// TestExportRoundTripsThePlan plans the demo, exports it and parses the file
// back: one row per WOULD_PROVISION user of the plan's report, with its
// number, extension and location, marked for "Add services only".
func TestExportRoundTripsThePlan(t *testing.T) {
	cfg := copyDemo(t, "")
	dir := t.TempDir()
	bulk := filepath.Join(dir, "bulk.csv")
	code, out, errOut := run(t, "plan", "-c", cfg, "--report-dir", filepath.Join(dir, "plan"), "--log-level", "warn", "--export", "controlhub-csv", bulk)
	if code != 0 {
		t.Fatalf("plan --export: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, `bulk.csv: 13 user row(s); import it in Control Hub with "Add services only"`) {
		t.Fatalf("stdout does not say the rows and the mode: %q", out)
	}
	var rep struct {
		Users []pass.Row `json:"users"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "plan", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	planned := map[string]pass.Row{}
	for _, r := range rep.Users {
		if r.Outcome == "WOULD_PROVISION" {
			planned[r.Email] = r
		}
	}
	f := parseBulk(t, bulk)
	if len(f.Users) != len(planned) || len(f.Licences) != 1 || f.Licences[0].Header != "Webex Calling - Professional [SUB-1]" {
		t.Fatalf("%d rows and columns %+v; want %d rows with the one Calling column", len(f.Users), f.Licences, len(planned))
	}
	for i := range f.Users {
		u := &f.Users[i]
		r, ok := planned[u.Email]
		if !ok {
			t.Fatalf("%s is in the export but not planned", u.Email)
		}
		if u.PhoneNumber != r.E164 || u.Location != r.LocationName || cell(f, u, "Webex Calling - Professional [SUB-1]") != "TRUE" {
			t.Fatalf("%s came back as %+v; want %s at %s with Calling TRUE", u.Email, u, r.E164, r.LocationName)
		}
	}
	london := f.Users[10]
	if london.Email != "user30@corp.example" || london.PhoneNumber != "+442071838750" || london.Extension != "2750" {
		t.Fatalf("user30 came back as %+v", london)
	}
	notes, err := os.ReadFile(filepath.Join(dir, "bulk.import.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(notes), "choosing: Add services only") || !strings.Contains(string(notes), "No row takes a licence away") {
		t.Fatalf("notes:\n%s", notes)
	}
}

// movingDemo points the demo's calling template at a new subscription, so
// that user11, who holds Calling on SUB-1, moves: a change that removes.
func movingDemo(t *testing.T, acknowledge bool) string {
	t.Helper()
	cfg := copyDemo(t, "")
	dir := filepath.Dir(cfg)
	lic := filepath.Join(dir, "org", "licenses.csv")
	b, err := os.ReadFile(lic)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lic, append(b, "LIC-PRO3,Webex Calling - Professional,SUB-3,40,0,ACTIVE\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(y), "{name: Webex Calling - Professional, subscription: SUB-1}", "{name: Webex Calling - Professional, subscription: SUB-3}", 1)
	if acknowledge {
		s += "removals: {acknowledge: true, max_fraction: 1}\n"
	}
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestExportCarriesARemovalOnlyWhenAcknowledged(t *testing.T) {
	tests := []struct {
		name        string
		acknowledge bool
		mode        string
		oldCell     string
		rows        int
	}{
		{"unacknowledged: the move is left out and the file is for adding only", false, "Add services only", "", 13},
		{"acknowledged: the move is in the file, for adding and removing", true, "Add and remove services", "FALSE", 14},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := movingDemo(t, tc.acknowledge)
			dir := t.TempDir()
			bulk := filepath.Join(dir, "bulk.csv")
			code, out, errOut := run(t, "plan", "-c", cfg, "--report-dir", filepath.Join(dir, "plan"), "--log-level", "error", "--export", "controlhub-csv", bulk)
			if code != 0 || !strings.Contains(out, `with "`+tc.mode+`"`) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want the file marked %q", code, out, errOut, tc.mode)
			}
			f := parseBulk(t, bulk)
			if len(f.Users) != tc.rows {
				t.Fatalf("%d rows, want %d", len(f.Users), tc.rows)
			}
			var mover *controlhub.User
			for i := range f.Users {
				u := &f.Users[i]
				if u.Email == "user11@corp.example" {
					mover = u
				}
				if !tc.acknowledge {
					for j, c := range u.Licences {
						if c == controlhub.False {
							t.Fatalf("%s has %s FALSE without acknowledged removals", u.Email, f.Licences[j].Header)
						}
					}
				}
			}
			notes, _ := os.ReadFile(filepath.Join(dir, "bulk.import.txt"))
			if !tc.acknowledge {
				if mover != nil {
					t.Fatal("the unacknowledged move is in the file")
				}
				if !strings.Contains(string(notes), "user11@corp.example: removes Webex Calling - Professional [SUB-1]") {
					t.Fatalf("the notes do not say the move was left out:\n%s", notes)
				}
				return
			}
			if mover == nil {
				t.Fatal("the acknowledged move is not in the file")
			}
			if got := cell(f, mover, "Webex Calling - Professional [SUB-1]"); got != tc.oldCell {
				t.Fatalf("the old subscription's cell is %q, want %q", got, tc.oldCell)
			}
			if got := cell(f, mover, "Webex Calling - Professional [SUB-3]"); got != "TRUE" {
				t.Fatalf("the new subscription's cell is %q, want TRUE", got)
			}
			if mover.PhoneNumber != "+12125550111" || mover.Extension != "1011" || mover.Location != "New York" {
				t.Fatalf("the move does not keep number, extension and location: %+v", mover)
			}
			if !strings.Contains(string(notes), "1 row(s) take a licence away") {
				t.Fatalf("notes:\n%s", notes)
			}
		})
	}
}

func TestExportUsage(t *testing.T) {
	cfg := copyDemo(t, "")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"an unknown format", []string{"plan", "-c", cfg, "--export", "xlsx", "out.xlsx"}, `--export: "xlsx" is not controlhub-csv`},
		{"no file to write", []string{"plan", "-c", cfg, "--export", "controlhub-csv"}, "licensync plan --export controlhub-csv FILE"},
		{"a file without --export", []string{"plan", "-c", cfg, "out.csv"}, `unknown command "out.csv"`},
		{"--export on run", []string{"run", "-c", cfg, "--export", "controlhub-csv", "out.csv"}, "unknown flag: --export"},
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
