package pass

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/internal/pgtest"
)

// verdicts indexes checks by name.
func verdicts(checks []doctor.Check) map[string]doctor.Check {
	out := map[string]doctor.Check{}
	for _, c := range checks {
		out[c.Name] = c
	}
	return out
}

func TestDoctorReadsASQLiteStoreWithoutTakingItsLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "licensync.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A crashed holder leaves its pid in the lock file, unlocked.
	if err := os.WriteFile(path+".lock", []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := verdicts(Doctor(context.Background(), path))["instance lock"]; !c.OK || c.Detail != "free" {
		t.Errorf("a lock file a crashed holder left: %+v, want free", c)
	}
	release, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	c := verdicts(Doctor(context.Background(), path))["instance lock"]
	release()
	if !c.OK || !strings.Contains(c.Detail, "held by pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("a held lock: %+v, want it to name pid %d", c, os.Getpid())
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if c := verdicts(Doctor(context.Background(), path))["state schema"]; c.OK || !strings.Contains(c.Detail, "version 99 is newer than this licensync knows") {
		t.Errorf("a store a newer licensync migrated: %+v, want it failed naming the version", c)
	}
}

func TestDoctorOnPostgreSQLNamesWhatTheDatabaseUserLacks(t *testing.T) {
	srv := pgtest.Get(t)
	ctx := context.Background()
	created := srv.Database(t)
	owner := StateConfig{State: srv.URL(created), Password: srv.Password, WorkDir: t.TempDir()}
	s, err := OpenPostgres(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fresh := srv.Database(t)
	// A role with no grant: it may connect but neither create nor write.
	role := "doctor_" + created
	if err := srv.Exec(ctx, created, "CREATE ROLE "+role+" LOGIN PASSWORD 'R3ader-pw'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Exec(ctx, created, "DROP OWNED BY "+role)
		_ = srv.Exec(ctx, "postgres", "DROP ROLE "+role)
	})
	as := func(db string) StateConfig {
		return StateConfig{State: strings.Replace(srv.URL(db), "postgres@", role+"@", 1), Password: "R3ader-pw", WorkDir: t.TempDir()}
	}
	tests := []struct {
		name string
		c    StateConfig
		// failed names the checks that fail; want is what named checks say.
		failed []string
		want   map[string]string
	}{
		{"the owner of a current store", owner, nil, map[string]string{
			"state store": "connected", "state schema": "version " + strconv.Itoa(SchemaVersion()) + ", as this licensync writes",
			"state privileges": "may read and write", "instance lock": "free"}},
		{"the owner of an empty database", StateConfig{State: srv.URL(fresh), Password: srv.Password, WorkDir: t.TempDir()}, nil,
			map[string]string{"state schema": "not created yet; the first pass creates it at version " + strconv.Itoa(SchemaVersion())}},
		{"a wrong password", StateConfig{State: srv.URL(created), Password: "Wr0ng-pw", WorkDir: t.TempDir()}, []string{"state store"},
			map[string]string{"state store": "password authentication failed"}},
		{"a user without grants on a current store", as(created), []string{"state schema", "state privileges"},
			map[string]string{"state privileges": "may not write licensync's tables"}},
		{"a user who may not create tables in an empty database", as(fresh), []string{"state schema"},
			map[string]string{"state schema": "may not create tables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := DoctorState(ctx, tt.c)
			var failed []string
			for _, c := range checks {
				for _, secret := range []string{srv.Password, "Wr0ng-pw", "R3ader-pw"} {
					if strings.Contains(c.Tried+c.Detail+c.Fix, secret) {
						t.Errorf("check %q shows a password: %+v", c.Name, c)
					}
				}
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed %q, want %q\n%+v", failed, tt.failed, checks)
			}
			got := verdicts(checks)
			for name, want := range tt.want {
				if !strings.Contains(got[name].Detail, want) {
					t.Errorf("check %q: %+v, want it to say %q", name, got[name], want)
				}
			}
		})
	}
	release, err := LockState(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := srv.Exec(ctx, created, "INSERT INTO leases VALUES ('org-1', 'replica-a', 3, now() + interval '1 minute')"); err != nil {
		t.Fatal(err)
	}
	c := verdicts(DoctorState(ctx, owner))["instance lock"]
	if !c.OK || !strings.Contains(c.Detail, "held by backend pid ") || !strings.Contains(c.Detail, `organisation "org-1" led by replica-a (epoch 3)`) {
		t.Errorf("instance lock while a licensync holds it and a replica leads: %+v, want both named", c)
	}
}
