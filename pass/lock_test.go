package pass

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestInstanceLock(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name string
		run  func(t *testing.T, state string)
	}{
		{"the holder's pid is written into the lock file", func(t *testing.T, state string) {
			release, err := Lock(state)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			b, err := os.ReadFile(state + ".lock")
			if err != nil || strings.TrimSpace(string(b)) != pid {
				t.Errorf("lock file = %q, %v; want pid %s", b, err, pid)
			}
		}},
		{"a second lock on the same store fails naming the holder's pid", func(t *testing.T, state string) {
			release, err := Lock(state)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			again, err := Lock(state)
			if err == nil {
				again()
				t.Fatal("second Lock succeeded while the first was held")
			}
			if !strings.Contains(err.Error(), "pid "+pid) {
				t.Errorf("err = %v, want it to name pid %s", err, pid)
			}
		}},
		{"the lock can be taken again after release", func(t *testing.T, state string) {
			release, err := Lock(state)
			if err != nil {
				t.Fatal(err)
			}
			if err := release(); err != nil {
				t.Fatal(err)
			}
			again, err := Lock(state)
			if err != nil {
				t.Fatalf("Lock after release: %v", err)
			}
			again()
		}},
		{"a lock on another store is independent", func(t *testing.T, state string) {
			release, err := Lock(state)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			other, err := Lock(state + "-other")
			if err != nil {
				t.Fatalf("Lock on another store: %v", err)
			}
			other()
		}},
		{"another process holding the lock is named by its pid", func(t *testing.T, state string) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
			cmd.Env = append(os.Environ(), "LICENSYNC_LOCK_HELPER="+state)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "locked" {
				t.Fatalf("helper said %q, %v", line, err)
			}
			_, err = Lock(state)
			if want := "pid " + strconv.Itoa(cmd.Process.Pid); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Lock err = %v, want it to name %s", err, want)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, filepath.Join(t.TempDir(), "licensync.db"))
		})
	}
}

// TestLockHelperProcess is the other process of the tests above: it takes the
// lock, says so and holds it until killed.
func TestLockHelperProcess(t *testing.T) {
	state := os.Getenv("LICENSYNC_LOCK_HELPER")
	if state == "" {
		t.Skip("only runs as a helper process")
	}
	if _, err := Lock(state); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {}
}
