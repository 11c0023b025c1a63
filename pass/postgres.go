package pass

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
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
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", RedactURL(c.State), err)
	}
	return db, nil
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
