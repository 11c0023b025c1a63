package main

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing/offline"
)

// moveDemo is the demo with a second Professional subscription of the given
// units; users 11 and 12 hold Calling from SUB-1.
func moveDemo(t *testing.T, units string, removals string) string {
	t.Helper()
	cfg := copyDemo(t, "")
	dir := filepath.Dir(cfg)
	appendTo := func(name, s string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("org/licenses.csv", "LIC-PRO-NEW,Webex Calling - Professional,SUB-NEW,"+units+",0,ACTIVE\n")
	appendTo("licensync.yaml", removals)
	return cfg
}

const acknowledged = "removals: {acknowledge: true}\n"

// orgOf opens the demo's offline org after the command closed it.
func orgOf(t *testing.T, cfg string) *offline.Org {
	t.Helper()
	o, err := offline.Open(filepath.Join(filepath.Dir(cfg), "state", "org.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestMovePlanShowsEachMoveAndChangesNothing(t *testing.T) {
	cfg := moveDemo(t, "5", "")
	code, out, errOut := run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--plan", "--report-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"would move user11@corp.example: moves Calling from Webex Calling - Professional [SUB-1] to Webex Calling - Professional [SUB-NEW] in one request, keeping +12125550111, extension 1011, location New York",
		"would move user12@corp.example:",
		"move SUB-1 -> SUB-NEW: would move 2, failed 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if n, _ := orgOf(t, cfg).Writes(context.Background()); n != 0 {
		t.Fatalf("move --plan made %d writes", n)
	}
}

func TestMoveAppliesOneChangePerUserKeepingTheNumberAndWritesAReport(t *testing.T) {
	cfg := moveDemo(t, "5", acknowledged)
	reports := t.TempDir()
	code, out, errOut := run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--max-fraction", "1", "--report-dir", reports)
	if code != 0 || !strings.Contains(out, "moved user11@corp.example: moves Calling") || !strings.Contains(out, "moved 2, failed 0") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	o := orgOf(t, cfg)
	ctx := context.Background()
	people, _ := o.People(ctx, []string{"user11@corp.example", "user12@corp.example"})
	for email, phone := range map[string]string{"user11@corp.example": "+12125550111", "user12@corp.example": "+12125550112"} {
		p := people[email]
		if strings.Join(p.Licences, ";") != "LIC-PRO-NEW" || p.PhoneNumber != phone || p.LocationID != "LOC-NYC" {
			t.Errorf("%s after the move = %+v", email, p)
		}
	}
	if n, _ := o.Writes(ctx); n != 2 {
		t.Errorf("the move made %d writes, want one per user", n)
	}
	snap, _ := o.Snapshot(ctx)
	num, _ := snap.Numbers.Get("+12125550111")
	if snap.Licences["LIC-PRO"].ConsumedUnits != 0 || snap.Licences["LIC-PRO-NEW"].ConsumedUnits != 2 || num.OwnerID != "P-11" {
		t.Errorf("after the move: LIC-PRO %d, LIC-PRO-NEW %d, number owner %q", snap.Licences["LIC-PRO"].ConsumedUnits,
			snap.Licences["LIC-PRO-NEW"].ConsumedUnits, num.OwnerID)
	}
	f, err := os.Open(filepath.Join(reports, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, _ := csv.NewReader(f).ReadAll()
	if len(recs) != 3 || recs[1][5] != "PROVISIONED" || recs[1][10] != "LIC-PRO-NEW" || recs[1][1] != "user11@corp.example" {
		t.Fatalf("report = %q", recs)
	}
	if _, err := os.Stat(filepath.Join(reports, "report.json")); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--max-fraction", "1", "--report-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, "moved 0, failed 0") {
		t.Fatalf("a second move: exit %d, out %q", code, out)
	}
}

func TestMoveRefusals(t *testing.T) {
	tests := []struct {
		name, units, removals string
		args                  []string
		code                  int
		want                  string
	}{
		{"a move without acknowledged removals is refused", "5", "", []string{"--max-fraction", "1"}, 1, "removals.acknowledge is false; nothing was changed"},
		{"a move of more than removals.max_fraction of the Calling users is refused", "5", acknowledged, nil, 1,
			"would remove licences from 2 of 3 users (66.7%), over removals.max_fraction 0.05 (5.0%); nothing was changed"},
		{"a move of more than --max-fraction of the Calling users is refused", "5", "removals: {acknowledge: true, max_fraction: 1}\n", []string{"--max-fraction", "0.5"}, 1,
			"over removals.max_fraction 0.5 (50.0%); nothing was changed"},
		{"--max-fraction must be a fraction", "5", acknowledged, []string{"--max-fraction", "2"}, 2, "--max-fraction 2 is not a fraction between 0 and 1"},
		{"a move onto a subscription without units for everyone moves nobody", "1", acknowledged, []string{"--max-fraction", "1"}, 1,
			"Webex Calling - Professional [SUB-NEW] has 1 free units and the move needs 2; nothing was moved"},
		{"a move onto an unknown subscription names the flag", "5", acknowledged, []string{"--to", "SUB-NONE"}, 2, "subscription SUB-NONE has no \"Webex Calling - Professional\""},
		{"a move without --from is a usage error", "5", acknowledged, []string{"--from", ""}, 2, "--from and --to are required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := moveDemo(t, tc.units, tc.removals)
			args := append([]string{"move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--report-dir", t.TempDir()}, tc.args...)
			code, _, errOut := run(t, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
			if n, _ := orgOf(t, cfg).Writes(context.Background()); n != 0 {
				t.Fatalf("a refused move made %d writes", n)
			}
		})
	}
}

func TestMoveUsersLimitsTheMoveToTheListedEmails(t *testing.T) {
	for name, content := range map[string]string{
		"a list of emails":  "# to move\nUser12@corp.example\nnobody@corp.example\n",
		"a Control Hub CSV": "\ufeffFirst Name,User ID/Email (Required),Webex Calling VAR Professional [SUB-1]\nDemo,user12@corp.example,TRUE\nNo,nobody@corp.example,FALSE\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := moveDemo(t, "1", acknowledged)
			users := filepath.Join(t.TempDir(), "users")
			if err := os.WriteFile(users, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--users", users, "--max-fraction", "1", "--report-dir", t.TempDir())
			if code != 0 || !strings.Contains(out, "moved user12@corp.example") || strings.Contains(out, "user11") ||
				!strings.Contains(out, "skipped nobody@corp.example: OUT_OF_SCOPE holds no Calling licence of subscription SUB-1") {
				t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
			}
			if n, _ := orgOf(t, cfg).Writes(context.Background()); n != 1 {
				t.Fatalf("writes = %d, want 1", n)
			}
		})
	}
}

func TestMoveWorkspacesMovesTheirLicenceKeepingTheNumber(t *testing.T) {
	cfg := moveDemo(t, "5", acknowledged)
	dir := filepath.Dir(cfg)
	lics, err := os.ReadFile(filepath.Join(dir, "org", "licenses.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lics = append(lics, "LIC-WS,Webex Calling - Workspaces,SUB-1,5,1,ACTIVE\nLIC-WS-NEW,Webex Calling - Workspaces,SUB-NEW,5,0,ACTIVE\n"...)
	if err := os.WriteFile(filepath.Join(dir, "org", "licenses.csv"), lics, 0o644); err != nil {
		t.Fatal(err)
	}
	ws := "id,name,licenses,phone_number,extension,location_id\nWS-LOBBY,Lobby,LIC-WS,+12125550126,1026,LOC-NYC\n"
	if err := os.WriteFile(filepath.Join(dir, "org", "workspaces.csv"), []byte(ws), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--workspaces", "--max-fraction", "1", "--report-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, "moved WS-LOBBY: workspace Lobby: moves Calling from Webex Calling - Workspaces [SUB-1] to Webex Calling - Workspaces [SUB-NEW] in one request, keeping +12125550126, extension 1026, location New York") ||
		!strings.Contains(out, "moved 3, failed 0") {
		t.Fatalf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	o := orgOf(t, cfg)
	got, err := o.WorkspaceHolders(context.Background(), "LIC-WS-NEW")
	if err != nil || len(got) != 1 || got[0].PhoneNumber != "+12125550126" {
		t.Fatalf("workspaces on the new licence = %+v, %v", got, err)
	}
	if n, _ := o.Writes(context.Background()); n != 3 {
		t.Fatalf("writes = %d, want two people and one workspace", n)
	}
}

func TestAMoveIsInTheHistoryAndItsReportIsThereByItsID(t *testing.T) {
	cfg := moveDemo(t, "5", acknowledged)
	code, out, errOut := run(t, "move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-NEW", "--max-fraction", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, id, ok := strings.Cut(strings.TrimSpace(out), "(move ")
	id = strings.TrimSuffix(id, ")")
	if !ok || id == "" {
		t.Fatalf("the move does not name its run: %q", out)
	}
	_, hist, _ := run(t, "history", "-c", cfg)
	if !strings.Contains(hist, id) || !strings.Contains(strings.Fields(hist[strings.Index(hist, id):])[1], "move") {
		t.Fatalf("history does not list the move %s:\n%s", id, hist)
	}
	if f := strings.Fields(hist[strings.Index(hist, id):]); f[3] != "succeeded" || f[4] != "2" || f[5] != "2" || f[6] != "0" {
		t.Fatalf("history shows the move as %q, want succeeded with 2 users, 2 applied, 0 failed", f[:7])
	}
	code, rep, errOut := run(t, "report", "-c", cfg, "--run", id)
	if code != 0 || !strings.Contains(rep, "P-11,user11@corp.example,Demo User 11,+12125550111,+12125550111,PROVISIONED,") {
		t.Fatalf("report --run %s: exit %d, %q, %s", id, code, rep, errOut)
	}
}
