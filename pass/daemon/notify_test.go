package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/licensing"
)

// hookToken stands for the secret part of a webhook URL.
const hookToken = "T0KEN-s3cret"

// webhook is an httptest receiver that records the notices it takes and
// answers 503 to the first failFirst requests.
type webhook struct {
	mu        sync.Mutex
	notices   []Notice
	requests  int
	failFirst int
	url       string
}

func newWebhook(t *testing.T, failFirst int) *webhook {
	t.Helper()
	h := &webhook{failFirst: failFirst}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/"+hookToken || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if h.requests <= h.failFirst {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var n Notice
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.notices = append(h.notices, n)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hooks/" + hookToken
	return h
}

// take returns the notices received since the last call, by user id.
func (h *webhook) take() []Notice {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.notices
	h.notices = nil
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

func TestTheWebhookFiresOncePerUserAndCauseForFailuresOlderThanTheAge(t *testing.T) {
	d := openDemoStore(t)
	ctx := context.Background()
	hook := newWebhook(t, 0)
	core, logs := observer.New(zap.DebugLevel)
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var now time.Time
	n := &Notifier{URL: hook.url, After: 24 * time.Hour, Org: "ORG-1", Log: zap.New(core), Now: func() time.Time { return now }}
	// pass runs a pass at the time given and then the notifier, as the
	// service does.
	pass := func(id string, at time.Time) []Notice {
		now = at
		d.passAt(t, id, at)
		n.Notify(ctx, d.store)
		return hook.take()
	}

	first := pass("RUN-1", t1)
	if len(first) != 0 {
		t.Fatalf("%d notices for failures younger than the age, want none: %v", len(first), userIDs(first))
	}
	if got := pass("RUN-2", t1.Add(23*time.Hour)); len(got) != 0 {
		t.Fatalf("%d notices at 23h, want none", len(got))
	}
	aged := pass("RUN-3", t1.Add(25*time.Hour))
	st, err := d.store.StandingFailures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(aged) != st.Total || st.Total == 0 {
		t.Fatalf("%d notices after 25h, want one per standing failure (%d)", len(aged), st.Total)
	}
	var u17 *Notice
	for i := range aged {
		if aged[i].UserID == "u17" {
			u17 = &aged[i]
		}
	}
	want := Notice{Org: "ORG-1", UserID: "u17", Email: "user17@corp.example", DisplayName: "Demo User 17",
		Cause: string(licensing.CauseInvalidE164), FailingSince: t1, Fix: licensing.CauseInvalidE164.Fix()}
	if u17 == nil || u17.Detail == "" {
		t.Fatalf("no notice for u17 with a detail: %v", userIDs(aged))
	}
	u17.Detail = ""
	if *u17 != want {
		t.Errorf("u17's notice = %+v, want %+v", *u17, want)
	}
	for _, id := range []string{"RUN-4", "RUN-5"} {
		if got := pass(id, t1.Add(26*time.Hour)); len(got) != 0 {
			t.Fatalf("%s: %d notices again for failures already told of: %v", id, len(got), userIDs(got))
		}
	}

	// u17's phone is emptied: a new cause, told of once it too is old.
	path := d.cfg.Source.File.Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "Demo User 17,12125550117,", "Demo User 17,,", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pass("RUN-6", t1.Add(30*time.Hour)); len(got) != 0 {
		t.Fatalf("%d notices for a cause 0h old: %v", len(got), userIDs(got))
	}
	again := pass("RUN-7", t1.Add(55*time.Hour))
	if len(again) != 1 || again[0].UserID != "u17" || again[0].Cause != string(licensing.CauseNoWorkPhone) || !again[0].FailingSince.Equal(t1.Add(30*time.Hour)) {
		t.Fatalf("notices after u17's new cause aged = %+v, want u17's NO_WORK_PHONE since %s", again, t1.Add(30*time.Hour))
	}
	if strings.Contains(logText(logs), hookToken) {
		t.Errorf("the logs show the webhook's token:\n%s", logText(logs))
	}
}

func TestAWebhookThatFailsIsLoggedWithoutItsTokenAndTriedAgainNextPass(t *testing.T) {
	d := openDemoStore(t)
	ctx := context.Background()
	// Every attempt of the first pass's first notice fails.
	hook := newWebhook(t, noticeAttempts)
	core, logs := observer.New(zap.DebugLevel)
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := t1.Add(48 * time.Hour)
	n := &Notifier{URL: hook.url, After: 24 * time.Hour, Log: zap.New(core), Now: func() time.Time { return now }, Backoff: time.Millisecond}
	d.passAt(t, "RUN-1", t1)
	if sent := n.Notify(ctx, d.store); sent != 0 || hook.requests != noticeAttempts {
		t.Fatalf("sent %d with %d requests to a failing webhook, want 0 sent after %d attempts", sent, hook.requests, noticeAttempts)
	}
	text := logText(logs)
	if !strings.Contains(text, "webhook: notice not delivered") || strings.Contains(text, hookToken) {
		t.Errorf("want the failure logged without the token:\n%s", text)
	}
	d.passAt(t, "RUN-2", t1.Add(47*time.Hour))
	st, err := d.store.StandingFailures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sent := n.Notify(ctx, d.store); sent != st.Total || len(hook.take()) != st.Total {
		t.Errorf("the next pass sent %d notices, want every one of the %d standing failures", sent, st.Total)
	}
}

func TestAWebhookThatDoesNotAnswerIsGivenUpWithinItsAttempts(t *testing.T) {
	d := openDemoStore(t)
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); srv.Close() })
	t1 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d.passAt(t, "RUN-1", t1)
	n := &Notifier{URL: srv.URL + "/hooks/" + hookToken, After: time.Hour, Now: func() time.Time { return t1.Add(2 * time.Hour) },
		Client: &http.Client{Timeout: 50 * time.Millisecond}, Backoff: time.Millisecond}
	start := time.Now()
	if sent := n.Notify(context.Background(), d.store); sent != 0 {
		t.Fatalf("sent %d notices to a webhook that never answers", sent)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a silent webhook held the pass for %s", took)
	}
}

func userIDs(ns []Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.UserID+" "+n.Cause)
	}
	return out
}

func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		b.WriteString(e.Message)
		for _, f := range e.Context {
			b.WriteString(" " + f.Key + "=" + f.String)
			if f.Interface != nil {
				if err, ok := f.Interface.(error); ok {
					b.WriteString(err.Error())
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
