package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/pgtest"
	"github.com/licensync/licensync/pass"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// copyDemoOnPostgres is copyDemo with its state in a new database of the
// test PostgreSQL, the password in the URL taken from the environment.
func copyDemoOnPostgres(t *testing.T, directory string) (cfg string, srv *pgtest.Server, db string) {
	t.Helper()
	cfg = copyDemo(t, directory)
	srv = pgtest.Get(t)
	db = srv.Database(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(srv.URL(db), "postgres@", "postgres:${LICENSYNC_TEST_PGPW}@", 1)
	b = []byte(strings.Replace(string(b), "state: state/licensync.db", "state: "+url, 1))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LICENSYNC_TEST_PGPW", srv.Password)
	return cfg, srv, db
}

func TestTheCommandsWorkOnAPostgreSQLStateAndNeverShowItsPassword(t *testing.T) {
	cfg, srv, _ := copyDemoOnPostgres(t, clean)
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"validate"}, 0, "valid (source file"},
		{[]string{"check"}, 1, "2 user(s) would change"},
		{[]string{"run"}, 0, "PROVISIONED 2"},
		{[]string{"check"}, 0, "ALREADY_PROVISIONED 2"},
		{[]string{"history"}, 0, "succeeded"},
		{[]string{"report", "--unprovisioned"}, 0, "source_id,"},
	}
	for _, s := range steps {
		code, out, errOut := run(t, append(s.args, "-c", cfg)...)
		if code != s.code || !strings.Contains(out+errOut, s.want) {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit %d saying %q", s.args, code, out, errOut, s.code, s.want)
		}
		if strings.Contains(out+errOut, srv.Password) {
			t.Fatalf("%v shows the password: %s%s", s.args, out, errOut)
		}
	}
}

func TestAOneShotCommandRefusesBesideAnotherWriterOfThePostgreSQLState(t *testing.T) {
	tests := []struct {
		name string
		hold func(t *testing.T, c pass.StateConfig) func()
		want string
	}{
		{"another one-shot command holds the instance lock", func(t *testing.T, c pass.StateConfig) func() {
			release, err := pass.LockState(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			return func() { _ = release() }
		}, "is in use by another licensync"},
		{"a serve replica leads the organisation", func(t *testing.T, c pass.StateConfig) func() {
			store, err := pass.Open(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			lease, err := pass.NewLease(store, "default", "replica-elsewhere", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := lease.Acquire(context.Background()); !got || err != nil {
				t.Fatalf("lease: %v %v", got, err)
			}
			return func() { store.Close() }
		}, "organisation default of postgres://postgres@127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, srv, db := copyDemoOnPostgres(t, clean)
			defer tc.hold(t, pass.StateConfig{State: srv.URL(db), Password: srv.Password, WorkDir: t.TempDir()})()
			for _, args := range [][]string{{"run"}, {"plan"}} {
				code, out, errOut := run(t, append(args, "-c", cfg)...)
				if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(out+errOut, srv.Password) {
					t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit 1 saying %q", args, code, out, errOut, tc.want)
				}
			}
		})
	}
}

func TestAWrongPostgreSQLPasswordFailsWithoutShowingIt(t *testing.T) {
	cfg, _, _ := copyDemoOnPostgres(t, clean)
	const wrong = "not-the-Password-42"
	t.Setenv("LICENSYNC_TEST_PGPW", wrong)
	code, out, errOut := run(t, "run", "-c", cfg, "--log-format", "json")
	if code != 1 || !strings.Contains(errOut, "password authentication failed") || strings.Contains(out+errOut, wrong) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want a failure naming the cause, not the password", code, out, errOut)
	}
}
