package pass

import (
	"context"
	"strings"
	"testing"

	"github.com/licensync/licensync/internal/pgtest"
)

func TestQueriesAreRewrittenForPostgreSQLOnly(t *testing.T) {
	tests := []struct {
		name, in, sqlite, postgres string
	}{
		{"placeholders are numbered in order", "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"a question mark inside a literal stays", "SELECT '?' FROM t WHERE b = ?", "SELECT '?' FROM t WHERE b = ?", "SELECT '?' FROM t WHERE b = $1"},
		{"a LIKE escape literal does not end the scan early", `SELECT a FROM t WHERE b LIKE ? ESCAPE '\' AND c = ?`, `SELECT a FROM t WHERE b LIKE ? ESCAPE '\' AND c = ?`, `SELECT a FROM t WHERE b LIKE $1 ESCAPE '\' AND c = $2`},
		{"a NOCASE ordering compares lower case", "SELECT a FROM users ORDER BY email COLLATE NOCASE DESC", "SELECT a FROM users ORDER BY email COLLATE NOCASE DESC", "SELECT a FROM users ORDER BY lower(email) DESC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sqliteDialect.sql(tc.in); got != tc.sqlite {
				t.Errorf("sqlite: %q, want %q", got, tc.sqlite)
			}
			if got := postgresDialect.sql(tc.in); got != tc.postgres {
				t.Errorf("postgres: %q, want %q", got, tc.postgres)
			}
		})
	}
}

func TestAPostgreSQLStoreFromANewerLicensyncIsRefused(t *testing.T) {
	srv := pgtest.Get(t)
	db := srv.Database(t)
	c := StateConfig{State: srv.URL(db), Password: srv.Password, WorkDir: t.TempDir()}
	s, err := OpenPostgres(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := s.db.QueryRowContext(context.Background(), "SELECT version FROM schema_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema_version = %d (%v), want %d", version, err, len(migrations))
	}
	s.Close()
	if err := srv.Exec(context.Background(), db, "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPostgres(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer than this licensync knows") || !strings.Contains(err.Error(), "/"+db+"?") {
		t.Fatalf("err = %v, want a refusal naming the store and its version", err)
	}
}

func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	srv := pgtest.Get(t)
	c := StateConfig{State: srv.URL(srv.Database(t)), Password: srv.Password, WorkDir: t.TempDir()}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := OpenPostgres(context.Background(), c)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a replica failed to open the store: %v", err)
		}
	}
}

func TestThePostgreSQLPasswordNeverAppearsInAnError(t *testing.T) {
	srv := pgtest.Get(t)
	db := srv.Database(t)
	wrong := "Wr0ng-" + srv.Password
	tests := []struct {
		name string
		c    StateConfig
	}{
		{"a wrong password given apart", StateConfig{State: srv.URL(db), Password: wrong}},
		{"a wrong password inside the URL", StateConfig{State: strings.Replace(srv.URL(db), "postgres@", "postgres:"+wrong+"@", 1)}},
		{"a URL the driver cannot parse", StateConfig{State: "postgres://postgres:" + wrong + "@127.0.0.1:notaport/x"}},
		{"a server that is not there", StateConfig{State: "postgres://postgres:" + wrong + "@127.0.0.1:1/x?connect_timeout=2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.WorkDir = t.TempDir()
			s, err := OpenPostgres(context.Background(), tc.c)
			if err == nil {
				s.Close()
				t.Fatal("opened with a wrong password")
			}
			if strings.Contains(err.Error(), wrong) {
				t.Fatalf("the error shows the password: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "state store postgres://") {
				t.Fatalf("err = %v, want one naming the store", err)
			}
			_, err = LockState(context.Background(), tc.c)
			if err == nil || strings.Contains(err.Error(), wrong) {
				t.Fatalf("lock err = %v, want one without the password", err)
			}
		})
	}
}

func TestOnePostgreSQLStoreHasOneInstanceAtATime(t *testing.T) {
	srv := pgtest.Get(t)
	c := StateConfig{State: srv.URL(srv.Database(t)), Password: srv.Password}
	release, err := LockState(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockState(context.Background(), c); err == nil || !strings.Contains(err.Error(), "in use by another licensync") {
		t.Fatalf("second lock err = %v, want the store in use", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := LockState(context.Background(), c)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	_ = again()
}
