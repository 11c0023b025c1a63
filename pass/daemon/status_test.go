package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

func TestTheConsoleIsServedBesideTheTriggerWhichKeepsItsToken(t *testing.T) {
	store, err := pass.OpenStore(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := New(Options{
		Pass: func(context.Context, bool, *pass.Progress) (*pass.Result, error) {
			return nil, errors.New("not run")
		},
		Status:       func(*pass.Result) string { return "" },
		TriggerToken: func() string { return "0123456789abcdef0123" },
		Console:      &console.Options{Store: store, Listen: "127.0.0.1:9431"},
	})
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		auth         string
		want         int
	}{
		{http.MethodGet, "/", "", http.StatusOK},
		{http.MethodGet, "/api/v1/overview", "", http.StatusOK},
		{http.MethodGet, "/healthz", "", http.StatusOK},
		{http.MethodPost, "/v1/passes", "", http.StatusUnauthorized},
		{http.MethodPost, "/v1/passes", "Bearer wrong-token-wrong-token", http.StatusForbidden},
		{http.MethodPost, "/v1/passes", "Bearer 0123456789abcdef0123", http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.auth, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestTheConsoleStatusNamesTheSideThatFailedUntilAPassSucceeds(t *testing.T) {
	var e passErrors
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	e.record(errors.New("target snapshot: webex: 401 Unauthorized"), at)
	e.record(errors.New("source: ldap: connection refused"), at.Add(time.Minute))
	e.record(errors.New("state store: disk full"), at.Add(2*time.Minute))
	e.record(errors.New("source file: open directory.csv: no such file"), at.Add(3*time.Minute))
	got, _ := json.Marshal(e.list())
	for _, want := range []string{`"side":"source","at":"2026-12-01T09:03:00Z","message":"source file: open`, `"side":"target"`, `"side":"pass","at":"2026-12-01T09:02:00Z"`} {
		if !strings.Contains(string(got), want) {
			t.Fatalf("errors %s lack %s", got, want)
		}
	}
	e.clear()
	if l := e.list(); len(l) != 0 {
		t.Fatalf("errors after a pass succeeded: %+v", l)
	}
}

func TestTheConsoleStatusSaysWhichOrganisationsThisReplicaLeads(t *testing.T) {
	lead := NewLeadership([]string{"default"})
	svc := New(Options{Pass: func(context.Context, bool, *pass.Progress) (*pass.Result, error) { return nil, nil },
		Status: func(*pass.Result) string { return "" }, Leadership: lead})
	if st := svc.ConsoleStatus(); !st.Replicated || len(st.Leads) != 0 {
		t.Fatalf("standing by: %+v", st)
	}
	lead.Gained("default", 3)
	if st := svc.ConsoleStatus(); len(st.Leads) != 1 || st.Leads[0] != "default" {
		t.Fatalf("leading: %+v", st)
	}
	lead.Lost("default")
	if st := svc.ConsoleStatus(); len(st.Leads) != 0 {
		t.Fatalf("after losing the lease: %+v", st)
	}
}
