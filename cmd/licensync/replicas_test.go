package main

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/bench/synth"
	"github.com/licensync/licensync/internal/pgtest"
)

// leadingMsg is what a replica logs when it takes an organisation's lease.
const leadingMsg = "leading: took the lease; passes go on from the last checkpoint"

// replicaDemo writes a synthetic directory of users whose state is a new
// database of the test PostgreSQL, served by replicas with a lease of ttl
// and no scheduled pass: passes start when a replica takes the lease. It
// returns the configuration and how long a plan of it takes on SQLite.
func replicaDemo(t *testing.T, bin string, users int, ttl time.Duration) (cfg string, planTook time.Duration, state *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	if err := synth.Write(users, dir); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "licensync.yaml")
	start := time.Now()
	if out, err := exec.Command(bin, "plan", "-c", cfg, "--log-format", "json").CombinedOutput(); err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	planTook = time.Since(start)
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := pgtest.Get(t)
	db := srv.Database(t)
	url := strings.Replace(srv.URL(db), "postgres@", "postgres:${LICENSYNC_TEST_PGPW}@", 1)
	s := strings.Replace(string(b), "state: state/licensync.db", "state: "+url, 1)
	s += fmt.Sprintf("daemon: {listen: \"127.0.0.1:0\", incremental_every: 0s, lease_ttl: %s}\n", ttl)
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LICENSYNC_TEST_PGPW", srv.Password)
	if state, err = sql.Open("pgx", srv.URLWithPassword(db)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	return cfg, planTook, state
}

// TestAStandbyTakesOverFromALeaderKilledMidPassAndEachLicenceLandsOnce
// runs two serve replicas on one PostgreSQL store and kills the leader with
// SIGKILL at random points of its pass, ten times, starting a new standby
// after each takeover; then it checks that every user got the licence
// exactly once and the store holds every decision.
func TestAStandbyTakesOverFromALeaderKilledMidPassAndEachLicenceLandsOnce(t *testing.T) {
	bin := licensyncBinary(t)
	const users, ttl, kills = 3000, 2 * time.Second, 10
	cfg, planTook, state := replicaDemo(t, bin, users, ttl)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)

	leader, logs, base := startServe(t, bin, cfg)
	logs.await(t, leadingMsg)
	standby, standbyLogs, standbyBase := startServe(t, bin, cfg)
	var takeovers []time.Duration
	for i := 0; i < kills; i++ {
		// Anywhere within a pass's length: each new leader starts a pass
		// at once, so most kills land in reading, applying or recording.
		time.Sleep(time.Duration(rng.Int64N(int64(planTook))))
		_ = leader.Process.Kill()
		_ = leader.Wait()
		killed := time.Now()
		took := standbyLogs.await(t, leadingMsg)
		takeovers = append(takeovers, time.Since(killed))
		if epoch := took["epoch"].(float64); int(epoch) != i+2 {
			t.Fatalf("takeover %d at epoch %v, want %d", i+1, epoch, i+2)
		}
		leader, logs, base = standby, standbyLogs, standbyBase
		standby, standbyLogs, standbyBase = startServe(t, bin, cfg)
	}
	logs.await(t, "pass succeeded")
	awaitMetric(t, base, `licensync_leader{org="default"} 1`)
	awaitMetric(t, base, fmt.Sprintf(`licensync_takeovers_total{org="default"} %d`, 1))
	awaitMetric(t, standbyBase, `licensync_leader{org="default"} 0`)
	if code, body := httpGet(t, base+"/readyz"); code != 200 || !strings.Contains(body, fmt.Sprintf(`"leads":[{"epoch":%d,"org":"default"}]`, kills+1)) {
		t.Errorf("the leader's /readyz: %d %s", code, body)
	}
	if _, body := httpGet(t, standbyBase+"/readyz"); strings.Contains(body, `"org":"default"`) {
		t.Errorf("the standby's /readyz says it leads: %s", body)
	}
	_ = standby
	slices.Sort(takeovers)
	t.Logf("takeover after SIGKILL: median %s, worst %s (lease_ttl %s)", takeovers[len(takeovers)/2], takeovers[len(takeovers)-1], ttl)
	if worst := takeovers[len(takeovers)-1]; worst > ttl+time.Second {
		t.Errorf("the slowest takeover took %s, want at most the lease TTL %s and a renewal tick", worst, ttl)
	}

	org := openDB(t, filepath.Join(filepath.Dir(cfg), "state", "org.db"))
	want := users * 81 / 100
	var holders, applied int
	must(t, org.QueryRow("SELECT COUNT(*) FROM people WHERE ';'||licenses||';' LIKE '%;LIC-PRO;%'").Scan(&holders))
	must(t, org.QueryRow("SELECT COUNT(*) FROM audit").Scan(&applied))
	if holders != want || applied != want {
		t.Errorf("licence holders %d, licences applied %d; want %d of each (each applied exactly once)", holders, applied, want)
	}
	var decided, provisioned, running int
	var cpStatus string
	must(t, state.QueryRow("SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome IN ('PROVISIONED', 'ALREADY_PROVISIONED')) FROM users").Scan(&decided, &provisioned))
	must(t, state.QueryRow("SELECT COUNT(*) FROM runs WHERE status = 'running'").Scan(&running))
	must(t, state.QueryRow("SELECT r.status FROM checkpoints c JOIN runs r ON r.id = c.run_id").Scan(&cpStatus))
	if decided != users || provisioned != want || running != 0 || cpStatus != "succeeded" {
		t.Errorf("store: %d users decided (want %d), %d licensed (want %d), %d runs still marked running, checkpoint from a run that %s",
			decided, users, provisioned, want, running, cpStatus)
	}
}
