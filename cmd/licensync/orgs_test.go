package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/pgtest"
)

// orgsDemo writes a configuration in the orgs: form into a new folder: one
// organisation per name, each licensing the users of its own directory
// CSV on its own offline target seeded from the demo's, with extra
// appended at the top level. It returns the configuration's path.
func orgsDemo(t *testing.T, state string, directories map[string]string, extra string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"locations.csv", "numbers.csv", "licenses.csv", "people.csv"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", "org", f))
		must(t, err)
		must(t, os.MkdirAll(filepath.Join(dir, "org"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "org", f), b, 0o644))
	}
	var names []string
	for name := range directories {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "state: %s\nreport_dir: reports\nphone: {default_region: \"\"}\n%sorgs:\n", state, extra)
	for _, name := range names {
		must(t, os.WriteFile(filepath.Join(dir, name+".csv"), []byte(directories[name]), 0o644))
		fmt.Fprintf(&b, "  - name: %s\n    source: {kind: file, file: {path: %s.csv}}\n    target: {kind: offline, offline: {seed: org}}\n"+
			"    templates: [{name: calling, groups: [Calling Users], licenses: [{name: Webex Calling - Professional, subscription: SUB-1}]}]\n", name, name)
	}
	cfg := filepath.Join(dir, "licensync.yaml")
	must(t, os.WriteFile(cfg, []byte(b.String()), 0o644))
	return cfg
}

const onlyUser03 = "id,email,display_name,work_phone,enabled,groups\n" +
	"u03,user03@corp.example,C,+12125550103,true,Calling Users\n"

func TestTwoOrganisationsOnSQLiteKeepTheirDecisionsReportsAndTargetsApart(t *testing.T) {
	cfg := orgsDemo(t, "state/licensync.db", map[string]string{"acme": clean, "beta": onlyUser03}, "")
	dir := filepath.Dir(cfg)
	for _, org := range []string{"acme", "beta"} {
		if code, out, errOut := run(t, "run", "-c", cfg, "--org", org); code != 0 {
			t.Fatalf("run --org %s: exit %d\n%s%s", org, code, out, errOut)
		}
	}
	for _, tc := range []struct {
		org        string
		want, not  []string
		statePath  string
		targetPath string
	}{
		{"acme", []string{"user01@corp.example", "user02@corp.example"}, []string{"user03@"}, "state/acme/licensync.db", "state/acme/org.db"},
		{"beta", []string{"user03@corp.example"}, []string{"user01@", "user02@"}, "state/beta/licensync.db", "state/beta/org.db"},
	} {
		code, decisions, errOut := run(t, "report", "-c", cfg, "--org", tc.org, "--format", "csv")
		if code != 0 {
			t.Fatalf("report --org %s: exit %d: %s", tc.org, code, errOut)
		}
		report, err := os.ReadFile(filepath.Join(dir, "reports", tc.org, "latest", "report.json"))
		if err != nil {
			t.Fatalf("%s's latest report: %v", tc.org, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(decisions, w+",") || !strings.Contains(string(report), w) {
				t.Errorf("%s's decisions or report lack %s:\n%s", tc.org, w, decisions)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(decisions, n) || strings.Contains(string(report), n) {
				t.Errorf("%s's decisions or report hold the other organisation's %s:\n%s", tc.org, n, decisions)
			}
		}
		var licensed int
		must(t, openDB(t, filepath.Join(dir, tc.targetPath)).QueryRow("SELECT COUNT(*) FROM audit").Scan(&licensed))
		if licensed != len(tc.want) {
			t.Errorf("%s's target took %d licences, want %d", tc.org, licensed, len(tc.want))
		}
		if _, err := os.Stat(filepath.Join(dir, tc.statePath)); err != nil {
			t.Errorf("%s's state store: %v", tc.org, err)
		}
		code, hist, _ := run(t, "history", "-c", cfg, "--org", tc.org)
		if code != 0 || strings.Count(hist, "succeeded") != 1 {
			t.Errorf("history --org %s: exit %d, want one pass:\n%s", tc.org, code, hist)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "reports", "latest")); !os.IsNotExist(err) {
		t.Errorf("a report landed outside the organisations' folders (%v)", err)
	}
}

func TestWithSeveralOrganisationsTheOneShotCommandsNeedAKnownOrg(t *testing.T) {
	cfg := orgsDemo(t, "state/licensync.db", map[string]string{"acme": clean, "beta": onlyUser03}, "")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"plan"}, 2, "--org is required"},
		{[]string{"run"}, 2, "--org is required"},
		{[]string{"check"}, 2, "--org is required"},
		{[]string{"report"}, 2, "--org is required"},
		{[]string{"history"}, 2, "--org is required"},
		{[]string{"plan", "--org", "gamma"}, 2, `--org: "gamma" is not an organisation`},
		{[]string{"plan", "--org", "beta"}, 0, ""},
	} {
		code, _, errOut := run(t, append(tc.args, "-c", cfg)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || (tc.code == 2 && !strings.Contains(errOut, "acme, beta")) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d saying %q and listing acme, beta", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
	code, out, _ := run(t, "validate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "valid, 2 organisations") || !strings.Contains(out, "  beta: source file, target offline, 1 template(s)") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
}

// readyLeads returns the organisations a replica's /readyz says it leads.
func readyLeads(t *testing.T, base string) []string {
	t.Helper()
	_, body := httpGet(t, base+"/readyz")
	var r struct {
		Leads []struct{ Org string } `json:"leads"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	var orgs []string
	for _, l := range r.Leads {
		orgs = append(orgs, l.Org)
	}
	return orgs
}

// awaitSpread polls the replicas at bases until every one of orgs is led
// by exactly one of them and none leads more than most, and returns each
// replica's organisations and how long it took.
func awaitSpread(t *testing.T, bases []string, orgs []string, most int, within time.Duration) ([][]string, time.Duration) {
	t.Helper()
	start := time.Now()
	var leads [][]string
	for {
		leads = leads[:0]
		var all []string
		fair := true
		for _, b := range bases {
			l := readyLeads(t, b)
			leads = append(leads, l)
			all = append(all, l...)
			fair = fair && len(l) <= most
		}
		slices.Sort(all)
		if fair && slices.Equal(all, orgs) {
			return leads, time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("after %s the replicas lead %v; want each of the %d organisations led by exactly one, at most %d each", within, leads, len(orgs), most)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwentyOrganisationsSpreadOverThreeReplicasAndMoveWhenOneIsKilled
// runs three serve replicas on one PostgreSQL store with twenty
// organisations: each organisation must be led by exactly one replica,
// each replica lead its share, and once one replica is killed (SIGKILL)
// the two others must lead all twenty within the lease TTL and a tick.
func TestTwentyOrganisationsSpreadOverThreeReplicasAndMoveWhenOneIsKilled(t *testing.T) {
	bin := licensyncBinary(t)
	const ttl = 2 * time.Second
	srv := pgtest.Get(t)
	db := srv.Database(t)
	t.Setenv("LICENSYNC_TEST_PGPW", srv.Password)
	url := strings.Replace(srv.URL(db), "postgres@", "postgres:${LICENSYNC_TEST_PGPW}@", 1)
	dirs := map[string]string{}
	var orgs []string
	for i := 1; i <= 20; i++ {
		name := fmt.Sprintf("org-%02d", i)
		orgs = append(orgs, name)
		dirs[name] = clean
	}
	cfg := orgsDemo(t, url, dirs, fmt.Sprintf("daemon: {listen: \"127.0.0.1:0\", incremental_every: 0s, lease_ttl: %s}\n", ttl))

	var procs []*exec.Cmd
	var bases []string
	for i := 0; i < 3; i++ {
		p, logs, base := startServe(t, bin, cfg)
		// Nothing awaits these replicas' lines: keep their logs flowing.
		go func() {
			for range logs.lines {
			}
		}()
		procs, bases = append(procs, p), append(bases, base)
	}
	leads, took := awaitSpread(t, bases, orgs, 7, 30*time.Second)
	t.Logf("spread after %s: %d, %d and %d organisations", took, len(leads[0]), len(leads[1]), len(leads[2]))
	for i, l := range leads {
		if len(l) == 0 {
			t.Errorf("replica %d leads nothing", i)
		}
	}
	// Every organisation's leader ran its pass: each of its two users got
	// the licence once on its own target, whichever replica led it when.
	for _, org := range orgs {
		target := openDB(t, filepath.Join(filepath.Dir(cfg), "state", org, "org.db"))
		var applied int
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_ = target.QueryRow("SELECT COUNT(*) FROM audit").Scan(&applied)
			if applied >= 2 || time.Now().After(deadline) {
				break
			}
		}
		if applied != 2 {
			t.Errorf("%s's target took %d licences, want its 2 users' once each", org, applied)
		}
		leader := bases[slices.IndexFunc(leads, func(l []string) bool { return slices.Contains(l, org) })]
		awaitMetric(t, leader, fmt.Sprintf(`licensync_leader{org=%q} 1`, org))
	}
	victim := 0
	for i := range leads {
		if len(leads[i]) > len(leads[victim]) {
			victim = i
		}
	}
	_ = procs[victim].Process.Kill()
	_ = procs[victim].Wait()
	killed := time.Now()
	rest := slices.Delete(slices.Clone(bases), victim, victim+1)
	after, moved := awaitSpread(t, rest, orgs, 20, 3*ttl)
	t.Logf("replica %d (%d organisations) killed; the two others led all twenty after %s: %d and %d", victim, len(leads[victim]), time.Since(killed), len(after[0]), len(after[1]))
	if moved > ttl+time.Second {
		t.Errorf("the killed replica's organisations moved after %s, want within the lease TTL %s and a renewal tick", moved, ttl)
	}
	if len(after[0]) > 10 || len(after[1]) > 10 {
		t.Errorf("the two replicas lead %d and %d, want 10 each at most", len(after[0]), len(after[1]))
	}
}

// TestServeOnSQLiteRunsEachOrganisationsPassesAndKeepsItsListOnReload runs
// the real binary on two organisations in SQLite: each runs its passes
// into its own reports, its console shows its own users, a reload that
// would change the list is refused, one that changes an organisation's
// schedule is taken, and a one-shot run of either organisation is refused
// beside it.
func TestServeOnSQLiteRunsEachOrganisationsPassesAndKeepsItsListOnReload(t *testing.T) {
	bin := licensyncBinary(t)
	cfg := orgsDemo(t, "state/licensync.db", map[string]string{"acme": clean, "beta": onlyUser03}, "daemon: {listen: \"127.0.0.1:0\", incremental_every: 1h}\n")
	dir := filepath.Dir(cfg)
	cmd, logs, base := startServe(t, bin, cfg)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body := httpGet(t, base+"/readyz")
		if code == 200 {
			if !strings.Contains(body, `"orgs":["acme","beta"]`) {
				t.Errorf("/readyz: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after 20s: %d %s", code, body)
		}
	}
	for org, email := range map[string]string{"acme": "user01@corp.example", "beta": "user03@corp.example"} {
		b, err := os.ReadFile(filepath.Join(dir, "reports", org, "latest", "report.json"))
		if err != nil || !strings.Contains(string(b), email) {
			t.Errorf("%s's latest report (%v) lacks %s", org, err, email)
		}
		out, err := exec.Command(bin, "run", "-c", cfg, "--org", org).CombinedOutput()
		if want := "pid " + strconv.Itoa(cmd.Process.Pid); err == nil || !strings.Contains(string(out), want) {
			t.Errorf("a run of %s beside serve: %v, %q; want it refused naming %s", org, err, out, want)
		}
	}
	// The console serves each organisation from its own store.
	for _, c := range []struct {
		path string
		code int
		has  string
	}{
		{"/", 200, `<a href="/orgs/beta/">beta</a>`},
		{"/api/v1/orgs/acme/users/u01", 200, `"email": "user01@corp.example"`},
		{"/api/v1/orgs/beta/users/u03", 200, `"email": "user03@corp.example"`},
		{"/api/v1/orgs/beta/users/u01", 404, `"error"`},
		{"/orgs/beta/failures", 200, "Standing failures"},
		{"/orgs/gamma/", 404, "one of acme, beta"},
	} {
		if code, body := httpGet(t, base+c.path); code != c.code || !strings.Contains(body, c.has) {
			t.Errorf("GET %s: %d, want %d with %q: %s", c.path, code, c.code, c.has, body)
		}
	}
	good := mustRead(t, cfg)
	for _, st := range []struct{ name, config, wantLog string }{
		{"a third organisation is refused", string(good) + "  - name: gamma\n" + strings.SplitN(string(good), "  - name: beta\n", 2)[1],
			"configuration reload refused: the organisations changed; restart to add or remove one"},
		{"an organisation's own schedule is taken", strings.Replace(string(good), "  - name: beta\n", "  - name: beta\n    daemon: {incremental_every: 2h}\n", 1),
			"configuration reloaded"},
	} {
		must(t, os.WriteFile(cfg, []byte(st.config), 0o644))
		must(t, cmd.Process.Signal(syscall.SIGHUP))
		logs.await(t, st.wantLog)
	}
	stopWithSIGTERM(t, cmd, func() { logs.await(t, "stopping") })
}
