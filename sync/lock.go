package sync

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
