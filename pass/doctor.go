package pass

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/licensync/licensync/doctor"
)

// SchemaVersion is the state store schema this binary writes.
func SchemaVersion() int { return len(migrations) }

// StoreVersion reads the schema version of the state store at path without
// migrating it: the file is opened read-only.
func StoreVersion(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", doctor.ReadOnlyDSN(path))
	if err != nil {
		return 0, fmt.Errorf("state store %s: %w", path, err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("state store %s: %w", path, err)
	}
	return v, nil
}

// Doctor checks what a pass needs of the state store at path: a directory it
// can write in, a schema this binary can use, and which process holds the
// instance lock, if any. It writes nothing and takes no lock.
func Doctor(ctx context.Context, path string) []doctor.Check {
	checks := []doctor.Check{doctor.WritableDir("state directory", filepath.Dir(path))}
	want := SchemaVersion()
	tried := "read PRAGMA user_version of " + path + " opened read-only"
	switch fi, err := os.Stat(path); {
	case errors.Is(err, os.ErrNotExist):
		checks = append(checks, doctor.Pass("state schema", "stat "+path,
			fmt.Sprintf("not created yet; the first pass creates it at version %d", want)))
	case err != nil:
		checks = append(checks, doctor.Fail("state schema", "stat "+path, err.Error(), "make the state file readable by the licensync user"))
	case fi.IsDir():
		checks = append(checks, doctor.Fail("state schema", "stat "+path, path+" is a directory", "point state at a file, e.g. state/licensync.db"))
	default:
		checks = append(checks, schemaCheck(ctx, path, tried, want))
	}
	switch pid, held, err := LockHolder(path); {
	case err != nil:
		checks = append(checks, doctor.Unknown("instance lock", "look up "+path+".lock in /proc/locks", err.Error(),
			"run `fuser "+path+".lock` to see whether a licensync holds it"))
	case held:
		checks = append(checks, doctor.Pass("instance lock", "look up "+path+".lock in /proc/locks",
			"held by pid "+pid+": a licensync is running on this store; a one-shot pass started now would refuse to run beside it"))
	default:
		checks = append(checks, doctor.Pass("instance lock", "look up "+path+".lock in /proc/locks", "free"))
	}
	return append(checks, doctor.FreeSpace("state disk space", filepath.Dir(path), doctor.MinFreeBytes))
}

func schemaCheck(ctx context.Context, path, tried string, want int) doctor.Check {
	if err := syscall.Access(path, 0x4|0x2); err != nil { // R_OK|W_OK
		return doctor.Fail("state schema", "access(R_OK|W_OK) on "+path, fmt.Sprintf("%s is not readable and writable by uid %d: %v", path, os.Geteuid(), err),
			"give the licensync user read and write access to "+path)
	}
	v, err := StoreVersion(ctx, path)
	switch {
	case err != nil:
		return doctor.Fail("state schema", tried, err.Error(), "check that "+path+" is a licensync state store, not another file")
	case v > want:
		return doctor.Fail("state schema", tried, fmt.Sprintf("version %d is newer than this licensync knows (%d)", v, want),
			"run the licensync that upgraded the store, or a newer one")
	case v < want:
		return doctor.Pass("state schema", tried, fmt.Sprintf("version %d; the next pass migrates it to %d", v, want))
	}
	return doctor.Pass("state schema", tried, fmt.Sprintf("version %d, as this licensync writes", v))
}

// DoctorState is Doctor for the state store c names: a SQLite file, or a
// PostgreSQL database, which is connected to and read, never written.
func DoctorState(ctx context.Context, c StateConfig) []doctor.Check {
	if !IsPostgres(c.State) {
		return Doctor(ctx, c.State)
	}
	shown := RedactURL(c.State)
	tried := "connect to " + shown
	db, err := openPostgresDB(c)
	if err != nil {
		return []doctor.Check{doctor.Fail("state store", tried, err.Error(),
			"check the URL (host, port, database, sslmode), state_password or PGPASSWORD, and that pg_hba.conf lets this host in")}
	}
	defer db.Close()
	checks := []doctor.Check{doctor.Pass("state store", tried, "connected")}
	want := SchemaVersion()
	var created bool
	if err := db.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&created); err != nil {
		return append(checks, doctor.Fail("state schema", "look for the schema_version table", err.Error(), "check the database's search_path"))
	}
	tried = "SELECT version FROM schema_version"
	switch version := 0; {
	case !created:
		checks = append(checks, postgresPrivilege(ctx, db, "state schema", "SELECT has_schema_privilege(current_schema(), 'CREATE')",
			fmt.Sprintf("not created yet; the first pass creates it at version %d", want),
			"the database user may not create tables in the current schema", "GRANT CREATE ON SCHEMA public TO the licensync user, or create the store once as its owner"))
	case db.QueryRowContext(ctx, tried).Scan(&version) != nil:
		checks = append(checks, doctor.Fail("state schema", tried, "schema_version is unreadable or empty", "GRANT SELECT, INSERT, UPDATE, DELETE on licensync's tables to the database user"))
	case version > want:
		checks = append(checks, doctor.Fail("state schema", tried, fmt.Sprintf("version %d is newer than this licensync knows (%d)", version, want),
			"run the licensync that upgraded the store, or a newer one"))
	case version < want:
		checks = append(checks, doctor.Pass("state schema", tried, fmt.Sprintf("version %d; the next pass migrates it to %d", version, want)))
	default:
		checks = append(checks, doctor.Pass("state schema", tried, fmt.Sprintf("version %d, as this licensync writes", version)))
	}
	if created {
		checks = append(checks, postgresPrivilege(ctx, db, "state privileges",
			"SELECT bool_and(has_table_privilege(t, 'SELECT, INSERT, UPDATE, DELETE')) FROM unnest(ARRAY['schema_version', 'runs', 'users', 'checkpoints', 'run_failures']) AS t",
			"the database user may read and write licensync's tables", "the database user may not write licensync's tables",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO the licensync user"))
	}
	checks = append(checks, postgresHolders(ctx, db, created))
	return append(checks, doctor.WritableDir("state work directory", c.WorkDir), doctor.FreeSpace("state disk space", c.WorkDir, doctor.MinFreeBytes))
}

// postgresPrivilege asks PostgreSQL a yes-or-no privilege question.
func postgresPrivilege(ctx context.Context, db *sql.DB, name, q, yes, no, fix string) doctor.Check {
	var ok sql.NullBool
	if err := db.QueryRowContext(ctx, q).Scan(&ok); err != nil {
		return doctor.Fail(name, q, err.Error(), fix)
	}
	if !ok.Bool {
		return doctor.Fail(name, q, no, fix)
	}
	return doctor.Pass(name, q, yes)
}

// postgresHolders names who holds the instance lock (a session advisory
// lock, seen in pg_locks) and the organisations' leases, without taking
// either.
func postgresHolders(ctx context.Context, db *sql.DB, created bool) doctor.Check {
	q := "SELECT l.pid, COALESCE(host(a.client_addr), 'local'), COALESCE(a.application_name, '') FROM pg_locks l " +
		"LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 " +
		"AND l.classid = $1 AND l.objid = $2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
	tried := "look for the instance lock in pg_locks"
	var holders []string
	rows, err := db.QueryContext(ctx, q, int64(uint64(stateLockKey)>>32), int64(uint64(stateLockKey)&0xffffffff))
	if err != nil {
		return doctor.Unknown("instance lock", tried, err.Error(), "")
	}
	for rows.Next() {
		var pid int
		var from, app string
		if err := rows.Scan(&pid, &from, &app); err != nil {
			rows.Close()
			return doctor.Unknown("instance lock", tried, err.Error(), "")
		}
		holders = append(holders, fmt.Sprintf("held by backend pid %d from %s", pid, from))
	}
	rows.Close()
	if created {
		tried += " and the leases"
		rows, err := db.QueryContext(ctx, "SELECT org, owner, epoch, expires > now() FROM leases ORDER BY org")
		if err == nil {
			for rows.Next() {
				var org, owner string
				var epoch int64
				var live bool
				if rows.Scan(&org, &owner, &epoch, &live) == nil && live {
					holders = append(holders, fmt.Sprintf("organisation %q led by %s (epoch %d)", org, owner, epoch))
				}
			}
			rows.Close()
		}
	}
	if len(holders) == 0 {
		return doctor.Pass("instance lock", tried, "free")
	}
	return doctor.Pass("instance lock", tried, strings.Join(holders, "; "))
}
