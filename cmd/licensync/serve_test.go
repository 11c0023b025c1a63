package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveDemo appends a daemon section listening on a free port to the demo
// copy's configuration.
func serveDemo(t *testing.T) string {
	t.Helper()
	cfg := copyDemo(t, "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("daemon: {listen: \"127.0.0.1:0\", keep_runs: 3, trigger_token: file:trigger-token}\n"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "trigger-token"), []byte(serveToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serveToken is the trigger token serveDemo configures.
const serveToken = "c0ffee-0123456789abcdef"

// postTrigger POSTs to the trigger with the token, when given, and returns
// the status.
func postTrigger(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// logWatcher reads JSON log lines and hands each to the waiting test.
type logWatcher struct {
	lines chan map[string]any
	all   chan string
}

func watchLog(r io.Reader) *logWatcher {
	w := &logWatcher{lines: make(chan map[string]any, 1000), all: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				w.lines <- m
			}
		}
		close(w.lines)
	}()
	return w
}

// await returns the first log entry with the message, failing after 10s.
func (w *logWatcher) await(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-w.lines:
			if !ok {
				t.Fatalf("log ended before %q", msg)
			}
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q log entry within 10s", msg)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// awaitMetric polls /metrics until it has the line.
func awaitMetric(t *testing.T, base, line string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := httpGet(t, base+"/metrics")
		if strings.Contains(body, line+"\n") {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never had %q; last:\n%s", line, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeRunsAPassExportsItAndRunsTriggeredOnes(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	cfg := serveDemo(t)
	pr, pw := io.Pipe()
	logs := watchLog(pr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- execute(ctx, []string{"serve", "-c", cfg, "--log-format", "json"}, io.Discard, pw)
		pw.Close()
	}()
	base := "http://" + logs.await(t, "listening")["addr"].(string)

	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	// The demo's file source reads the whole directory: every pass is full.
	body := awaitMetric(t, base, `licensync_passes_total{kind="full",result="succeeded"} 1`)
	for _, want := range []string{
		`licensync_last_pass_users{outcome="PROVISIONED"} 13`,
		`licensync_last_pass_users{outcome="FAILED"} 16`,
		`licensync_last_pass_users_by_cause{cause="INVALID_E164"} 6`,
		`licensync_passes_total{kind="full",result="failed"} 0`,
		`licensync_standing_failures{cause="INVALID_E164"} 6`,
		`licensync_time_to_licence_seconds_count 13`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics after the first pass lacks %q:\n%s", want, body)
		}
	}
	if code, _ := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the first pass = %d, want 200", code)
	}

	if code := postTrigger(t, base+"/v1/passes?full=true", ""); code != http.StatusUnauthorized {
		t.Fatalf("POST /v1/passes without the token = %d, want 401", code)
	}
	if code := postTrigger(t, base+"/v1/passes?full=true", serveToken); code != http.StatusAccepted {
		t.Fatalf("POST /v1/passes with the token = %d, want 202", code)
	}
	body = awaitMetric(t, base, `licensync_passes_total{kind="full",result="succeeded"} 2`)
	// The second pass finds the first one's work done.
	if !strings.Contains(body, `licensync_last_pass_users{outcome="PROVISIONED"} 0`+"\n") {
		t.Errorf("the triggered pass provisioned users again:\n%s", body)
	}
	// The failures still stand, and no licence landed twice.
	for _, want := range []string{`licensync_standing_failures{cause="INVALID_E164"} 6`, `licensync_time_to_licence_seconds_count 13`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics after the second pass lacks %q", want)
		}
	}

	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Errorf("serve exited %d after its context ended, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "state", "licensync.db")); err != nil {
		t.Errorf("no state store in the demo copy: %v", err)
	}
}

// TestServeBinaryReloadsOnSIGHUPAndStopsOnSIGTERM runs the real binary.
func TestServeBinaryReloadsOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	bin := licensyncBinary(t)
	cfg := serveDemo(t)
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd, logs, base := startServe(t, bin, cfg)
	logs.await(t, "pass succeeded")

	steps := []struct {
		name, config, wantLog string
	}{
		{"an invalid configuration is refused and the old one kept", string(good) + "daemon_typo: 1\n", "configuration reload refused; keeping the running configuration"},
		{"a valid configuration is taken", strings.Replace(string(good), "keep_runs: 3", "keep_runs: 5", 1), "configuration reloaded"},
	}
	for _, st := range steps {
		if err := os.WriteFile(cfg, []byte(st.config), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		logs.await(t, st.wantLog)
		if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
			t.Errorf("%s: /healthz = %d after SIGHUP, want 200", st.name, code)
		}
	}

	out, err := exec.Command(bin, "run", "-c", cfg).CombinedOutput()
	if want := "pid " + strconv.Itoa(cmd.Process.Pid); err == nil || !strings.Contains(string(out), want) {
		t.Errorf("a run beside serve: %v, %q; want it refused naming %s", err, out, want)
	}

	stopWithSIGTERM(t, cmd, func() { logs.await(t, "stopping") })
}

// TestServeBinarySIGTERMInterruptsThePassInFlight stops the real binary in
// the middle of a pass over a large directory.
func TestServeBinarySIGTERMInterruptsThePassInFlight(t *testing.T) {
	var dir strings.Builder
	dir.WriteString("id,email,display_name,work_phone,enabled,groups\n")
	for i := range 100_000 {
		fmt.Fprintf(&dir, "u%d,user%d@corp.example,U%d,+1212%07d,true,Calling Users\n", i, i, i, i)
	}
	cfg := copyDemo(t, dir.String())
	if err := os.WriteFile(cfg, append(mustRead(t, cfg), "daemon: {listen: \"127.0.0.1:0\"}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := licensyncBinary(t)
	cmd, _, base := startServe(t, bin, cfg)
	time.Sleep(300 * time.Millisecond)
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, "licensync_pass_in_progress 1\n") {
		t.Fatalf("no pass in progress to interrupt:\n%s", body)
	}
	stopWithSIGTERM(t, cmd, nil)
	out, err := exec.Command(bin, "history", "-c", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "interrupted") {
		t.Errorf("history after the interrupted pass: %v\n%s\nwant the pass recorded as interrupted", err, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stopWithSIGTERM sends SIGTERM to serve, runs sent (if any) while it stops,
// and fails unless it exits with status 0 within 10 s.
func stopWithSIGTERM(t *testing.T, cmd *exec.Cmd, sent func()) {
	t.Helper()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if sent != nil {
		sent()
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v, want exit status 0", err)
		}
		t.Logf("serve exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve still running 10s after SIGTERM")
	}
}

// startServe starts the real binary's serve on cfg, kills it at the end of
// the test if it is still running, and returns its log and HTTP base URL
// once it listens.
func startServe(t *testing.T, bin, cfg string) (*exec.Cmd, *logWatcher, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-c", cfg, "--log-format", "json")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	logs := watchLog(stderr)
	return cmd, logs, "http://" + logs.await(t, "listening")["addr"].(string)
}
