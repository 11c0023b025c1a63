package pass

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // database/sql driver: one Store for both engines
)

// IsPostgres reports whether a state setting names a PostgreSQL database
// (a postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(state string) bool {
	return strings.HasPrefix(state, "postgres://") || strings.HasPrefix(state, "postgresql://")
}

// StateConfig names a state store: a SQLite file, or a PostgreSQL URL with
// its password kept apart.
type StateConfig struct {
	// State is a SQLite file path or a postgres:// URL without a password.
	State string
	// Password, when set, is PostgreSQL's; without it the URL's, PGPASSWORD
	// or PGPASSFILE is used, as libpq would.
	Password string
	// WorkDir is the local folder of a PostgreSQL store's work files.
	WorkDir string
	// Schema, when set, is the PostgreSQL schema that holds the store
	// (one organisation's of several), created when missing; empty keeps
	// the URL's search_path.
	Schema string
	// AppName, when set, is the application_name of the store's
	// connections: serve replicas count each other by it (LiveReplicas).
	AppName string
}

// Open opens (creating or migrating if needed) the state store c names.
func Open(ctx context.Context, c StateConfig) (*Store, error) {
	if !IsPostgres(c.State) {
		return OpenStore(c.State)
	}
	return OpenPostgres(ctx, c)
}

// OpenPostgres opens the PostgreSQL state store c names and brings its
// schema to this binary's version. No error it returns holds the password.
func OpenPostgres(ctx context.Context, c StateConfig) (*Store, error) {
	db, err := openPostgresDB(c)
	if err != nil {
		return nil, err
	}
	s := &Store{db: &sqlDB{DB: db, dialect: postgresDialect}, dir: c.WorkDir}
	if c.Schema != "" {
		if err := createSchema(ctx, s.db, c.Schema); err != nil {
			db.Close()
			return nil, fmt.Errorf("state store %s: schema %s: %w", RedactURL(c.State), c.Schema, err)
		}
	}
	if err := migrate(ctx, s.db); err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", RedactURL(c.State), err)
	}
	return s, nil
}

// openPostgresDB opens a pool on the database c names and checks that it
// answers.
func openPostgresDB(c StateConfig) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(c.State)
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", RedactURL(c.State), err)
	}
	if c.Password != "" {
		cfg.Password = c.Password
	}
	if c.Schema != "" {
		if !schemaName.MatchString(c.Schema) {
			return nil, fmt.Errorf("state store: %q is not a schema name", c.Schema)
		}
		cfg.RuntimeParams["search_path"] = c.Schema
	}
	if c.AppName != "" {
		cfg.RuntimeParams["application_name"] = c.AppName
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", RedactURL(c.State), err)
	}
	return db, nil
}

// schemaName is the schema names a store takes, written into SQL as is.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// createSchema creates the schema when missing, under the lock replicas
// migrate under: CREATE SCHEMA IF NOT EXISTS is not safe from a concurrent
// one.
func createSchema(ctx context.Context, db *sqlDB, schema string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(schemaLock)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return err
	}
	return tx.Commit()
}

// LiveReplicas counts the processes connected to the store's database
// under an application_name that starts with prefix: the serve replicas
// that share it, alive (a process that dies drops its connections).
func (s *Store) LiveReplicas(ctx context.Context, prefix string) (int, error) {
	if s.db.dialect != postgresDialect {
		return 1, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE datname = current_database() AND starts_with(application_name, ?)", prefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("state store: replicas: %w", err)
	}
	return n, nil
}

// RedactURL returns a state setting fit to show: a URL's password, if it
// carries one, replaced.
func RedactURL(state string) string {
	if !IsPostgres(state) {
		return state
	}
	u, err := url.Parse(state)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// stateLockKey is the session advisory lock a PostgreSQL store's instance
// lock takes.
const stateLockKey = 0x6c69_6373_796e_6331 // "licsync1"

// LockState makes the caller the one licensync instance using the state
// store c names: the flock of Lock for a SQLite file, a session advisory
// lock for PostgreSQL, held on one connection until release (or the
// process's end, when PostgreSQL drops the session).
func LockState(ctx context.Context, c StateConfig) (release func() error, err error) {
	if !IsPostgres(c.State) {
		return Lock(c.State)
	}
	db, err := openPostgresDB(c)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", int64(stateLockKey)).Scan(&got); err != nil || !got {
		conn.Close()
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("instance lock: %w", err)
		}
		return nil, fmt.Errorf("instance lock: %s is in use by another licensync", RedactURL(c.State))
	}
	return func() error {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", int64(stateLockKey))
		conn.Close()
		return db.Close()
	}, nil
}
