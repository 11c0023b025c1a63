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

// epochLog makes the state store note, in its own tables, the lease epoch
// under which each pass began and under which each of its writes landed.
const epochLog = `CREATE TABLE run_epochs (run_id TEXT PRIMARY KEY, epoch BIGINT);
CREATE TABLE writes (run_id TEXT, epoch BIGINT);
CREATE FUNCTION note_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO run_epochs VALUES (new.id, (SELECT epoch FROM leases WHERE org = 'default')); RETURN NULL; END $$;
CREATE FUNCTION note_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO writes VALUES (new.run_id, (SELECT epoch FROM leases WHERE org = 'default')); RETURN NULL; END $$;
CREATE TRIGGER note_run AFTER INSERT ON runs FOR EACH ROW EXECUTE FUNCTION note_run();
CREATE TRIGGER note_user AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION note_write();
CREATE TRIGGER note_checkpoint AFTER INSERT OR UPDATE ON checkpoints FOR EACH ROW EXECUTE FUNCTION note_write();`

// TestALeaderCutOffFromTheDatabaseStopsWritingAndTheStandbyTakesOver
// terminates every connection of the leader (pg_terminate_backend, again
// and again, as a network cut would) while it applies: it must step down
// within the lease TTL, the standby take over, every licence land once,
// and no write of the old leader's pass land after the new epoch began.
func TestALeaderCutOffFromTheDatabaseStopsWritingAndTheStandbyTakesOver(t *testing.T) {
	bin := licensyncBinary(t)
	const users, ttl = 3000, 2 * time.Second
	cfg, _, state := replicaDemo(t, bin, users, ttl)
	// The schema first, so the test's triggers can watch it.
	if out, err := exec.Command(bin, "history", "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("history: %v\n%s", err, out)
	}
	if _, err := state.Exec(epochLog); err != nil {
		t.Fatal(err)
	}
	// Each replica logs in as a role of its own, as two machines would be
	// told apart, so that one of them can be cut off.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	named := func(name string) string {
		if _, err := state.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", name, os.Getenv("LICENSYNC_TEST_PGPW"))); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(filepath.Dir(cfg), name+".yaml")
		s := strings.Replace(string(b), "postgres:${", name+":${", 1)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = state.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + name + "'")
			_, _ = state.Exec("DROP ROLE " + name)
		})
		return path
	}
	leader, leaderLogs, _ := startServe(t, bin, named("replica_a"))
	leaderLogs.await(t, leadingMsg)
	_, standbyLogs, _ := startServe(t, bin, named("replica_b"))
	// Cut when the leader has recorded its first batch: it is applying.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		must(t, state.QueryRow("SELECT COUNT(*) FROM writes").Scan(&n))
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader recorded nothing within 20s")
		}
	}

	// The cut: no new connection, and every open one terminated.
	cut := time.Now()
	var terminated int
	if _, err := state.Exec("ALTER ROLE replica_a NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	must(t, state.QueryRow("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'replica_a'").Scan(&terminated))
	down := leaderLogs.await(t, "standing by: stopped leading")
	steppedDown := time.Since(cut)
	standbyLogs.await(t, leadingMsg)
	tookOver := time.Since(cut)
	t.Logf("cut off: %d connections terminated; the leader stepped down after %s (%v), the standby led after %s", terminated, steppedDown, down["why"], tookOver)
	if steppedDown > ttl {
		t.Errorf("the leader stepped down %s after it was cut off, want within the lease TTL %s", steppedDown, ttl)
	}
	if tookOver > ttl+time.Second {
		t.Errorf("the standby took over %s after the cut, want within the lease TTL %s and a renewal tick", tookOver, ttl)
	}
	standbyLogs.await(t, "pass succeeded")
	_ = leader

	var late int
	must(t, state.QueryRow("SELECT COUNT(*) FROM writes w JOIN run_epochs r USING (run_id) WHERE w.epoch <> r.epoch").Scan(&late))
	if late != 0 {
		t.Errorf("%d writes of a pass landed under a later epoch than the one it began under", late)
	}
	var epochs int
	must(t, state.QueryRow("SELECT COUNT(DISTINCT epoch) FROM run_epochs").Scan(&epochs))
	if epochs != 2 {
		t.Errorf("passes began under %d epochs, want the old leader's and the new one's", epochs)
	}
	org := openDB(t, filepath.Join(filepath.Dir(cfg), "state", "org.db"))
	want := users * 81 / 100
	var holders, applied int
	must(t, org.QueryRow("SELECT COUNT(*) FROM people WHERE ';'||licenses||';' LIKE '%;LIC-PRO;%'").Scan(&holders))
	must(t, org.QueryRow("SELECT COUNT(*) FROM audit").Scan(&applied))
	if holders != want || applied != want {
		t.Errorf("licence holders %d, licences applied %d; want %d of each (each applied exactly once)", holders, applied, want)
	}
}
