package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
