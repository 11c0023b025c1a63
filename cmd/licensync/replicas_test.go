package main

import (
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/bench/synth"
	"github.com/licensync/licensync/internal/pgtest"
	"github.com/licensync/licensync/internal/webextest"
)

// leadingMsg is what a replica logs when it takes an organisation's lease.
const leadingMsg = "leading: took the lease; passes go on from the last checkpoint"

// replicaDemo writes a synthetic directory of users whose state is a new
// database of the test PostgreSQL, served by replicas with a lease of ttl
// and no scheduled pass: passes start when a replica takes the lease. It
// returns the configuration and the state database.
func replicaDemo(t *testing.T, users int, ttl time.Duration) (cfg string, state *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	if err := synth.Write(users, dir); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "licensync.yaml")
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
	return cfg, state
}

// webexDemo starts the Webex test server holding the organisation the
// synthetic directory beside cfg describes (its people, numbers, locations
// and licence) and points cfg's target at it, at rate requests a second.
func webexDemo(t *testing.T, cfg string, rate int) *webextest.Server {
	t.Helper()
	dir := filepath.Dir(cfg)
	rows := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, "org", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		all, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return all[1:]
	}
	w := webextest.New(t)
	// The server runs already: what the test seeds is written under its
	// lock, as the handlers read it.
	w.Mu.Lock()
	defer w.Mu.Unlock()
	for _, r := range rows("people.csv") {
		w.People[r[0]] = &webextest.Person{ID: r[0], Email: r[1], Name: r[2]}
	}
	for _, r := range rows("numbers.csv") {
		w.Numbers = append(w.Numbers, &webextest.Number{Phone: r[0], Ext: r[1], Location: r[2], State: r[3], OwnerType: r[4], OwnerID: r[5]})
	}
	for _, r := range rows("locations.csv") {
		w.Locations = append(w.Locations, webextest.Location{ID: r[0], Name: r[1]})
		w.NoCalling[r[0]] = r[2] != "true"
	}
	for _, r := range rows("licenses.csv") {
		total, err := strconv.Atoi(r[3])
		if err != nil {
			t.Fatalf("licenses.csv: total_units %q: %v", r[3], err)
		}
		w.Licences = append(w.Licences, &webextest.Licence{ID: r[0], Name: r[1], Sub: r[2], Total: total})
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const offline = "target: {kind: offline, offline: {path: state/org.db, seed: org}}"
	if !strings.Contains(string(b), offline) {
		t.Fatalf("the synthetic configuration has no %q:\n%s", offline, b)
	}
	s := strings.Replace(string(b), offline, fmt.Sprintf(`target: {kind: webex, webex: {token: "${LICENSYNC_TEST_TOKEN}", base_url: "%s/v1", rate: %d, concurrency: 4}}`, w.HTTP.URL, rate), 1)
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LICENSYNC_TEST_TOKEN", "tok-0")
	return w
}

// licenceWrites counts the PATCH /licenses/users requests that reached the
// server, by the person they name: those that changed the person's licences
// and those that found them already as asked. A request cut before its body
// arrived whole names no one and changes nothing.
func licenceWrites(t *testing.T, w *webextest.Server) (landed, resent map[string]int) {
	t.Helper()
	w.Mu.Lock()
	defer w.Mu.Unlock()
	landed, resent = map[string]int{}, map[string]int{}
	for _, e := range w.Log {
		if e.Method != "PATCH" || e.Path != "/licenses/users" || !e.Handled {
			continue
		}
		var body struct {
			PersonID string `json:"personId"`
		}
		if json.Unmarshal([]byte(e.Body), &body) != nil || body.PersonID == "" {
			continue
		}
		if e.Landed {
			landed[body.PersonID]++
		} else {
			resent[body.PersonID]++
		}
	}
	return landed, resent
}

// holders counts the people holding licence id on the server.
func holders(w *webextest.Server, id string) int {
	w.Mu.Lock()
	defer w.Mu.Unlock()
	n := 0
	for _, p := range w.People {
		if slices.Contains(p.Licences, id) {
			n++
		}
	}
	return n
}

// TestAStandbyTakesOverFromAWebexLeaderKilledMidApplyAndEachLicenceLandsOnce
// runs two serve replicas on one PostgreSQL store, the target the Webex test
// server, and kills the leader with SIGKILL at a random point of its apply,
// ten times, starting a new standby after each takeover. Then each person
// to license must have been sent exactly one licence write, and the store
// must hold every user's decision.
func TestAStandbyTakesOverFromAWebexLeaderKilledMidApplyAndEachLicenceLandsOnce(t *testing.T) {
	bin := licensyncBinary(t)
	const users, ttl, kills, rate = 600, 2 * time.Second, 10, 100
	cfg, state := replicaDemo(t, users, ttl)
	w := webexDemo(t, cfg, rate)
	// Some writes land and lose their answer: the pass must read them back
	// rather than send them again.
	w.Mu.Lock()
	for i := 20; i < 26; i++ {
		w.Crash[fmt.Sprintf("P%07d", i)] = []string{"drop", "500"}[i%2]
	}
	w.Mu.Unlock()
	want := users * 81 / 100
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)

	leader, logs, base := startServe(t, bin, cfg)
	logs.await(t, leadingMsg)
	standby, standbyLogs, standbyBase := startServe(t, bin, cfg)
	var takeovers []time.Duration
	var killedAt []int
	for i := 0; i < kills; i++ {
		// The leader applies once the server sees a licence write after
		// its takeover; the kill comes up to three tenths of a second
		// later, some thirty writes at the configured rate.
		before := holders(w, "LIC-PRO")
		for deadline := time.Now().Add(20 * time.Second); holders(w, "LIC-PRO") == before; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("leader %d wrote no licence within 20s", i+1)
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		_ = leader.Process.Kill()
		_ = leader.Wait()
		killed := time.Now()
		n := holders(w, "LIC-PRO")
		if n >= want {
			t.Fatalf("kill %d came after the apply ended (%d of %d licensed)", i+1, n, want)
		}
		killedAt = append(killedAt, n)
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
	awaitMetric(t, base, `licensync_takeovers_total{org="default"} 1`)
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

	landed, resent := licenceWrites(t, w)
	t.Logf("killed with %v of %d licences written", killedAt, want)
	w.Mu.Lock()
	licensed := 0
	for id, p := range w.People {
		has := slices.Contains(p.Licences, "LIC-PRO")
		switch {
		case has && landed[id] != 1, !has && landed[id] != 0:
			t.Errorf("%s holds the licence: %t, after %d licence writes that landed", id, has, landed[id])
		case resent[id] != 0:
			t.Errorf("%s was sent their licence %d more times after it landed", id, resent[id])
		}
		if has {
			licensed++
		}
	}
	consumed := w.Licence("LIC-PRO").Consumed
	w.Mu.Unlock()
	if licensed != want || consumed != want {
		t.Errorf("%d people hold the licence and %d units are consumed, want %d of each", licensed, consumed, want)
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
	cfg, state := replicaDemo(t, users, ttl)
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
