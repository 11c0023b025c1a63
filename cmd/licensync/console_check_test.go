package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

func TestServesCheckNowReadsTheUserAgainFromTheConfiguredSource(t *testing.T) {
	cfg, err := config.Load(copyDemo(t, clean), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := executePass(context.Background(), cfg, passOptions{mode: pass.Apply, reportDir: t.TempDir(), log: zap.NewNop()}, nil); err != nil {
		t.Fatal(err)
	}
	// Since the pass, the directory lost u01's number.
	if err := os.WriteFile(cfg.Source.File.Path, []byte(strings.Replace(clean, "A,+12125550101,", "A,,", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	c, err := console.New(*consoleOptions(&cur, store, zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9431/api/v1/users/u01/check", nil)
	r.RemoteAddr = "127.0.0.1:50000"
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	var got console.User
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Check == nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	ch := got.Check
	if ch.RecordFrom != console.FromDirectory || ch.Record == nil || ch.Record.WorkPhone != "" || ch.Cause != licensing.CauseNoWorkPhone || ch.Same {
		t.Fatalf("check now: from %s, record %+v, %s/%s same=%v; want the directory's record without the number, failed as %s",
			ch.RecordFrom, ch.Record, ch.Outcome, ch.Cause, ch.Same, licensing.CauseNoWorkPhone)
	}
}
