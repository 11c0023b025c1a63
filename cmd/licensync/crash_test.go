package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensync/licensync/bench/synth"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// licensyncBinary builds the real binary once per test process.
func licensyncBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "licensync-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "licensync")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return builtBin
}

// TestAPassKilledAtRandomPointsAppliesEachLicenceOnce kills `licensync run`
// with SIGKILL at 20 random points (seeding, reading, applying, writing the
// report), then lets one run finish, and checks the org and the store.
func TestAPassKilledAtRandomPointsAppliesEachLicenceOnce(t *testing.T) {
	bin := licensyncBinary(t)
	dir := t.TempDir()
	const users = 4000
	if err := synth.Write(users, dir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "licensync.yaml")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)

	start := time.Now()
	if out, err := exec.Command(bin, "plan", "-c", cfg, "--log-format", "json").CombinedOutput(); err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	planTook := time.Since(start)
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}

	// The runs get a $TMPDIR of their own, to show they leave nothing in it.
	tmp := t.TempDir()
	env := append(os.Environ(), "TMPDIR="+tmp)
	killed := 0
	for i := 0; i < 20; i++ {
		cmd := exec.Command(bin, "run", "-c", cfg, "--log-format", "json")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Anywhere within a first plan's length (seeding included): early
		// kills land in seeding and reading, later ones in applying and
		// the report, and once the work is done a run outlives its kill.
		time.Sleep(time.Duration(rng.Int64N(int64(planTook))))
		_ = cmd.Process.Kill()
		if err := cmd.Wait(); err != nil {
			killed++
		}
	}
	finish := exec.Command(bin, "run", "-c", cfg, "--log-format", "json")
	finish.Env = env
	out, err := finish.CombinedOutput()
	if err != nil {
		t.Fatalf("the finishing run: %v\n%s", err, out)
	}
	if killed < 5 {
		t.Fatalf("only %d of 20 runs were killed before they finished: the kill points are too late", killed)
	}
	t.Logf("%d runs killed mid-pass; finishing run: %s", killed, strings.TrimSpace(string(out)))

	org := openDB(t, filepath.Join(dir, "state", "org.db"))
	// 81 users in 100 are provisionable in the synthetic mix.
	want := users * 81 / 100
	var holders, consumed, applied, badOwners int
	must(t, org.QueryRow("SELECT COUNT(*) FROM people WHERE ';'||licenses||';' LIKE '%;LIC-PRO;%'").Scan(&holders))
	must(t, org.QueryRow("SELECT consumed_units FROM licenses WHERE id = 'LIC-PRO'").Scan(&consumed))
	must(t, org.QueryRow("SELECT COUNT(*) FROM audit").Scan(&applied))
	must(t, org.QueryRow(`SELECT COUNT(*) FROM people p WHERE p.phone_number <> '' AND NOT EXISTS
		(SELECT 1 FROM numbers n WHERE n.phone_number = p.phone_number AND n.owner_type = 'PEOPLE' AND n.owner_id = p.id)`).Scan(&badOwners))
	if holders != want || consumed != want || applied != want {
		t.Errorf("licence holders %d, consumed units %d, licences applied %d; want %d of each (each applied exactly once)", holders, consumed, applied, want)
	}
	if badOwners != 0 {
		t.Errorf("%d people hold a number the inventory gives to someone else", badOwners)
	}
	var dup int
	must(t, org.QueryRow("SELECT COUNT(*) FROM people WHERE ';'||licenses||';' LIKE '%;LIC-PRO;%;LIC-PRO;%'").Scan(&dup))
	if dup != 0 {
		t.Errorf("%d people hold the licence twice", dup)
	}

	report, err := os.ReadFile(filepath.Join(dir, "reports", "latest", "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(string(report), "\n") - 1; rows != users {
		t.Errorf("the finishing run's report has %d users, want %d", rows, users)
	}
	// What the killed runs left is gone: working files, unfinished reports.
	var left []string
	for _, d := range []string{tmp, filepath.Join(dir, "state", "work"), filepath.Join(dir, "reports")} {
		must(t, filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && (d != filepath.Join(dir, "reports") || strings.HasPrefix(e.Name(), ".") || strings.Contains(path, "latest.")) {
				left = append(left, path)
			}
			return err
		}))
	}
	if len(left) > 0 {
		t.Errorf("%d files left by killed runs: %q", len(left), left)
	}
	store := openDB(t, filepath.Join(dir, "state", "licensync.db"))
	var running, latest int
	var cpRun, cpStatus string
	must(t, store.QueryRow("SELECT COUNT(*) FROM runs WHERE status = 'running'").Scan(&running))
	must(t, store.QueryRow("SELECT COUNT(*) FROM users").Scan(&latest))
	must(t, store.QueryRow("SELECT c.run_id, r.status FROM checkpoints c JOIN runs r ON r.id = c.run_id").Scan(&cpRun, &cpStatus))
	if running != 0 || latest != users || cpStatus != "succeeded" {
		t.Errorf("store: %d runs still marked running, %d users recorded (want %d), checkpoint from run %s which %s", running, latest, users, cpRun, cpStatus)
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
