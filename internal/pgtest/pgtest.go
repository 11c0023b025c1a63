// Package pgtest runs a real PostgreSQL server for tests: initdb into a
// temporary folder and pg_ctl start on a free loopback port, as an
// unprivileged user (postgres refuses to run as root), with no system
// service. One server serves a whole test binary; each test gets its own
// database.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver the tests connect with
)

// Server is a running PostgreSQL server.
type Server struct {
	dir, bin string
	// Port is the loopback port the server listens on.
	Port int
	// Password is the superuser's (postgres); connections over TCP need it.
	Password string
	admin    *sql.DB
	n        int
	mu       sync.Mutex
}

var (
	once   sync.Once
	shared *Server
	err    error
)

// Get returns the test binary's server, starting it on first use. Without
// PostgreSQL installed the test is skipped, except under CI=true where it
// fails: there, every peer must be present.
func Get(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { shared, err = start() })
	if err != nil {
		if errors.Is(err, errNotInstalled) && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL: %v (scripts/test installs it)", err)
		}
		t.Fatalf("PostgreSQL: %v", err)
	}
	return shared
}

// Stop stops the server if one was started; TestMain calls it after the
// tests ran.
func Stop() {
	if shared != nil {
		shared.stop()
	}
}

var errNotInstalled = errors.New("initdb not found under /usr/lib/postgresql/*/bin")

// binDir finds the newest installed PostgreSQL's programs.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "licensync-pg-")
	if err != nil {
		return nil, err
	}
	var pw [12]byte
	_, _ = rand.Read(pw[:])
	s := &Server{dir: dir, bin: bin, Password: hex.EncodeToString(pw[:])}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(s.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "pw")} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--pwfile", filepath.Join(dir, "pw"),
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
		s.Port, dir)
	if out, err := s.run("pg_ctl", "start", "-w", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	s.admin, err = sql.Open("pgx", s.URLWithPassword("postgres"))
	if err == nil {
		err = s.admin.Ping()
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// run runs one of PostgreSQL's programs, as the postgres user when root.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *Server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	_, _ = s.run("pg_ctl", "stop", "-m", "immediate", "-D", filepath.Join(s.dir, "data"))
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the URL of database db, without the password (pass
// Password apart, or use URLWithPassword).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// URLWithPassword returns the URL of database db carrying the password.
func (s *Server) URLWithPassword(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", s.Password, s.Port, db)
}

// Database creates an empty database for t, dropped when t ends, and
// returns its name.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("t%d", s.n)
	s.mu.Unlock()
	if _, err := s.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = s.admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
	})
	return name
}

// Exec runs q as the superuser in database db.
func (s *Server) Exec(ctx context.Context, db, q string, args ...any) error {
	c, err := sql.Open("pgx", s.URLWithPassword(db))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ExecContext(ctx, q, args...)
	return err
}
