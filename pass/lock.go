package pass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock makes the caller the one licensync instance using the state store at
// statePath: it takes an exclusive flock on statePath+".lock" and writes the
// holder's pid into it. While it is held, a second Lock, in this process or
// another, fails with an error naming the holder's pid. The lock goes with
// the process, so a crash never leaves it stale; release ends it sooner.
func Lock(statePath string) (release func() error, err error) {
	path := statePath + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("instance lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			holder := strings.TrimSpace(string(b))
			if holder == "" {
				holder = "unknown"
			}
			return nil, fmt.Errorf("instance lock: %s is held by pid %s: another licensync is using this state store", path, holder)
		}
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	if err := writePid(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("instance lock %s: %w", path, err)
	}
	return func() error {
		// Empty the file first: a reader that finds it unlocked and empty
		// knows nobody holds it.
		_ = f.Truncate(0)
		if err := f.Close(); err != nil {
			return fmt.Errorf("instance lock %s: %w", path, err)
		}
		return nil
	}, nil
}

func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// LockHolder says which process holds the instance lock of the state store
// at statePath, without taking it: the kernel's table of held locks
// (/proc/locks) is looked up for the lock file. held is false when the file
// does not exist, or when no process holds a lock on it (a crashed holder's
// pid may still be in the file).
func LockHolder(statePath string) (pid string, held bool, err error) {
	path := statePath + ".lock"
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("instance lock: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false, fmt.Errorf("instance lock %s: no inode to look up", path)
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "", false, fmt.Errorf("instance lock: the kernel's lock table: %w", err)
	}
	// A line reads "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": the
	// pid, then device and inode of the locked file.
	ino := ":" + strconv.FormatUint(st.Ino, 10)
	for line := range strings.Lines(string(locks)) {
		f := strings.Fields(line)
		if len(f) >= 6 && f[1] == "FLOCK" && strings.HasSuffix(f[5], ino) {
			return f[4], true, nil
		}
	}
	return "", false, nil
}
