package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServeTellsTheWebhookOfEachAgedFailureOnceWithoutLoggingItsToken(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	const token = "hook-T0KEN-s3cret"
	var mu sync.Mutex
	users := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			UserID string `json:"user_id"`
			Cause  string `json:"cause"`
		}
		if r.URL.Path != "/"+token || json.NewDecoder(r.Body).Decode(&n) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		users[n.UserID+" "+n.Cause]++
		mu.Unlock()
	}))
	defer hook.Close()
	t.Setenv("LICENSYNC_TEST_HOOK", hook.URL+"/"+token)
	cfg := copyDemo(t, "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// An age of 0: every failure is old enough at the first pass.
	_, err = f.WriteString("daemon: {listen: \"127.0.0.1:0\", trigger_token: file:trigger-token, notify: {webhook_url: \"${LICENSYNC_TEST_HOOK}\", after: 0s}}\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfg), "trigger-token"), []byte(serveToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	pr, pw := io.Pipe()
	logs := watchLog(io.TeeReader(pr, &logBuf))
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- execute(ctx, []string{"serve", "-c", cfg, "--log-format", "json"}, io.Discard, pw)
		pw.Close()
	}()
	base := "http://" + logs.await(t, "listening")["addr"].(string)
	awaitMetric(t, base, `licensync_passes_total{kind="full",result="succeeded"} 1`)
	if code := postTrigger(t, base+"/v1/passes", serveToken); code != http.StatusAccepted {
		t.Fatalf("POST /v1/passes with the token = %d, want 202", code)
	}
	awaitMetric(t, base, `licensync_passes_total{kind="full",result="succeeded"} 2`)
	cancel()
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s")
	}
	for range logs.lines {
	}

	mu.Lock()
	defer mu.Unlock()
	// The demo stands at 16 failures after each pass.
	if len(users) != 16 {
		t.Errorf("the webhook heard of %d failures, want the demo's 16: %v", len(users), users)
	}
	for u, n := range users {
		if n != 1 {
			t.Errorf("%s was notified %d times over two passes, want once", u, n)
		}
	}
	if strings.Contains(logBuf.String(), token) {
		t.Errorf("the log shows the webhook's token")
	}
	if !strings.Contains(logBuf.String(), "webhook: failure notified") {
		t.Errorf("the log does not say which failures were notified")
	}
}
