package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// changed lists the users of a report whose outcome is one of outcomes,
// each with the licences of their change, sorted.
func changed(t *testing.T, reportDir string, outcomes ...licensing.Outcome) []string {
	t.Helper()
	var out []string
	err := eachReportRow(filepath.Join(reportDir, "report.json"), func(r *pass.Row) error {
		if slices.Contains(outcomes, licensing.Outcome(r.Outcome)) {
			who := r.Email
			if who == "" {
				who = r.SourceID
			}
			out = append(out, who+" "+r.Licenses)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// lastRun is the newest run the demo's state store holds.
func lastRun(t *testing.T, cfg string) pass.RunInfo {
	t.Helper()
	store, err := pass.OpenStore(filepath.Join(filepath.Dir(cfg), "state", "licensync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runs, err := store.Runs(context.Background(), 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	return runs[0]
}

// TestEveryConsumerOfAPlanSeesTheSameDecisionsGuardAndRecords drives plan,
// plan --export, run, move --plan and move over the same removals
// settings. In the demo the calling template points at a new subscription,
// so the pass moves user11 (1 removal among the directory's users), and the
// move takes both SUB-1 holders to it (2 removals among 3 Calling users).
// Each consumer decides the same, the guard refuses in the same cases and
// before any write, and every one of them is recorded in the history.
func TestEveryConsumerOfAPlanSeesTheSameDecisionsGuardAndRecords(t *testing.T) {
	cases := []struct {
		name, removals string
		refused        bool
	}{
		{"removals not acknowledged", "", true},
		{"acknowledged, over max_fraction", "removals: {acknowledge: true, max_fraction: 0.01}\n", true},
		{"acknowledged, within max_fraction", "removals: {acknowledge: true, max_fraction: 1}\n", false},
	}
	const mover = "user11@corp.example LIC-PRO3"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setup := func(t *testing.T) (cfg, dir string) {
				cfg = movingDemo(t, false)
				f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(tc.removals); err != nil {
					t.Fatal(err)
				}
				f.Close()
				return cfg, t.TempDir()
			}
			// plan: the decisions, and whether run would refuse them.
			cfg, dir := setup(t)
			if code, _, errOut := run(t, "plan", "-c", cfg, "--report-dir", dir, "--log-level", "error"); code != 0 {
				t.Fatalf("plan: exit %d: %s", code, errOut)
			}
			planned := changed(t, dir, licensing.WouldProvision)
			if !slices.Contains(planned, mover) || len(planned) != 14 {
				t.Fatalf("plan decided %q; want 14 changes, user11's move among them", planned)
			}
			if r := lastRun(t, cfg); r.Mode != "plan" || r.Status != "succeeded" || r.Summary.Removals != 1 || (r.Summary.Refusal != "") != tc.refused {
				t.Fatalf("plan recorded %s %s, removals %d, refusal %q", r.Mode, r.Status, r.Summary.Removals, r.Summary.Refusal)
			}

			// export: the plan's changes, the removal only where run would make it.
			cfg, dir = setup(t)
			bulk := filepath.Join(dir, "bulk.csv")
			if code, _, errOut := run(t, "plan", "-c", cfg, "--report-dir", filepath.Join(dir, "plan"), "--log-level", "error", "--export", "controlhub-csv", bulk); code != 0 {
				t.Fatalf("plan --export: exit %d: %s", code, errOut)
			}
			if got := changed(t, filepath.Join(dir, "plan"), licensing.WouldProvision); !slices.Equal(got, planned) {
				t.Fatalf("the exporting plan decided %q, the plan %q", got, planned)
			}
			var exported []string
			for _, u := range parseBulk(t, bulk).Users {
				exported = append(exported, u.Email)
			}
			var want []string
			for _, p := range planned {
				if email, _, _ := strings.Cut(p, " "); p != mover || !tc.refused {
					want = append(want, email)
				}
			}
			slices.Sort(exported)
			if !slices.Equal(exported, want) {
				t.Fatalf("the export holds %q, want %q", exported, want)
			}
			if r := lastRun(t, cfg); r.Mode != "plan" || r.Status != "succeeded" {
				t.Fatalf("plan --export recorded %s %s", r.Mode, r.Status)
			}

			// run: applies exactly the plan, or refuses before its first write.
			cfg, dir = setup(t)
			code, _, errOut := run(t, "run", "-c", cfg, "--report-dir", dir, "--log-level", "error")
			writes, _ := orgOf(t, cfg).Writes(context.Background())
			r := lastRun(t, cfg)
			if tc.refused {
				if code != 1 || !strings.Contains(errOut, "nothing was changed") || writes != 0 || r.Mode != "run" || r.Status != "failed" {
					t.Fatalf("run: exit %d, %d writes, recorded %s %s; want a refusal before any write: %s", code, writes, r.Mode, r.Status, errOut)
				}
			} else {
				if code != 0 || writes != len(planned) || r.Mode != "run" || r.Status != "succeeded" || r.Summary.Outcomes["PROVISIONED"] != len(planned) {
					t.Fatalf("run: exit %d, %d writes, recorded %s %s %v: %s", code, writes, r.Mode, r.Status, r.Summary.Outcomes, errOut)
				}
				if got := changed(t, dir, licensing.Provisioned); !slices.Equal(got, planned) {
					t.Fatalf("run applied %q, the plan decided %q", got, planned)
				}
			}

			// move --plan and move: the same guard over the move's plan.
			cfg, dir = setup(t)
			move := []string{"move", "-c", cfg, "--from", "SUB-1", "--to", "SUB-3", "--log-level", "error"}
			if code, _, errOut := run(t, append(move, "--plan", "--report-dir", filepath.Join(dir, "plan"))...); code != 0 {
				t.Fatalf("move --plan: exit %d: %s", code, errOut)
			}
			moves := changed(t, filepath.Join(dir, "plan"), licensing.WouldProvision)
			if want := []string{mover, "user12@corp.example LIC-PRO3"}; !slices.Equal(moves, want) {
				t.Fatalf("move --plan decided %q, want %q", moves, want)
			}
			if r := lastRun(t, cfg); r.Mode != "move-plan" || r.Status != "succeeded" || r.Summary.Removals != 2 || (r.Summary.Refusal != "") != tc.refused {
				t.Fatalf("move --plan recorded %s %s, removals %d, refusal %q", r.Mode, r.Status, r.Summary.Removals, r.Summary.Refusal)
			}
			code, _, errOut = run(t, append(move, "--report-dir", dir)...)
			writes, _ = orgOf(t, cfg).Writes(context.Background())
			r = lastRun(t, cfg)
			if tc.refused {
				if code != 1 || !strings.Contains(errOut, "nothing was changed") || writes != 0 || r.Mode != "move" || r.Status != "failed" {
					t.Fatalf("move: exit %d, %d writes, recorded %s %s; want a refusal before any write: %s", code, writes, r.Mode, r.Status, errOut)
				}
				return
			}
			if code != 0 || writes != 2 || r.Mode != "move" || r.Status != "succeeded" || r.Summary.Outcomes["PROVISIONED"] != 2 {
				t.Fatalf("move: exit %d, %d writes, recorded %s %s %v: %s", code, writes, r.Mode, r.Status, r.Summary.Outcomes, errOut)
			}
			if got := changed(t, dir, licensing.Provisioned); !slices.Equal(got, moves) {
				t.Fatalf("move applied %q, move --plan decided %q", got, moves)
			}
		})
	}
}
