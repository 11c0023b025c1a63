package pass

import (
	"context"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/pgtest"
)

// TestOrganisationsInSchemasOfOneDatabaseKeepTheirRunsAndLeasesApart opens
// two organisations' stores in schemas of one PostgreSQL database, as the
// orgs: form does, and checks that what one writes the other never sees.
func TestOrganisationsInSchemasOfOneDatabaseKeepTheirRunsAndLeasesApart(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Get(t)
	url := srv.URL(srv.Database(t))
	open := func(schema string) *Store {
		s, err := OpenPostgres(ctx, StateConfig{State: url, Password: srv.Password, WorkDir: t.TempDir(), Schema: schema, AppName: "licensync test " + schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	acme, beta := open("org_acme"), open("org_beta")
	if err := acme.beginRun(ctx, RunInfo{ID: "ACME-1", Mode: "run", Started: time.Now(), Status: "running"}); err != nil {
		t.Fatal(err)
	}
	if runs, err := beta.Runs(ctx, 10); err != nil || len(runs) != 0 {
		t.Fatalf("beta's runs = %+v (%v), want none: acme's run leaked into beta's schema", runs, err)
	}
	if runs, err := acme.Runs(ctx, 10); err != nil || len(runs) != 1 || runs[0].ID != "ACME-1" {
		t.Fatalf("acme's runs = %+v (%v)", runs, err)
	}
	a, _ := NewLease(acme, "acme", "replica-a", time.Minute)
	b, _ := NewLease(beta, "beta", "replica-b", time.Minute)
	if held, err := a.Held(ctx); held || err != nil {
		t.Fatalf("acme's lease held before anyone took it (%v)", err)
	}
	for _, l := range []*Lease{a, b} {
		if got, err := l.Acquire(ctx); !got || err != nil {
			t.Fatalf("%s: acquired %v (%v); each organisation's lease is free", l.Org(), got, err)
		}
	}
	if held, err := a.Held(ctx); !held || err != nil {
		t.Fatalf("acme's lease not held once taken (%v)", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if held, err := a.Held(ctx); held || err != nil {
		t.Fatalf("acme's lease held once released (%v)", err)
	}
	if n, err := acme.LiveReplicas(ctx, "licensync test "); err != nil || n != 2 {
		t.Fatalf("live replicas = %d (%v), want the 2 connected stores", n, err)
	}
	if n, err := acme.LiveReplicas(ctx, "licensync serve "); err != nil || n != 0 {
		t.Fatalf("live replicas of another prefix = %d (%v), want 0", n, err)
	}
	beta.Close()
	// A closed connection's backend leaves pg_stat_activity as it exits.
	n, err := 0, error(nil)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n, err = acme.LiveReplicas(ctx, "licensync test "); err != nil || n == 1 {
			break
		}
	}
	if err != nil || n != 1 {
		t.Fatalf("live replicas after one closed = %d (%v), want 1", n, err)
	}
}
