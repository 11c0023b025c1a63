package pass

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/licensync/licensync/internal/pgtest"
)

// storeKind is an engine the state store runs on; the store tests run on
// each, so both behave the same.
type storeKind string

const (
	sqliteStore   storeKind = "sqlite"
	postgresStore storeKind = "postgres"
)

// eachStore runs test once on each engine, as subtests named after it.
func eachStore(t *testing.T, test func(t *testing.T, k storeKind)) {
	t.Helper()
	for _, k := range []storeKind{sqliteStore, postgresStore} {
		t.Run(string(k), func(t *testing.T) { test(t, k) })
	}
}

// open opens a new, empty store of kind k whose SQLite file (or work files)
// live at path.
func (k storeKind) open(t *testing.T, path string) *Store {
	t.Helper()
	if k == sqliteStore {
		s, err := OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv := pgtest.Get(t)
	s, err := OpenPostgres(context.Background(), StateConfig{State: srv.URL(srv.Database(t)), Password: srv.Password, WorkDir: filepath.Dir(path)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
