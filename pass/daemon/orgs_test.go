package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/pass"
)

func TestSeveralOrganisationsShareOneListenerEachWithItsOwnPassesAndSeries(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	ran := make(chan string, 10)
	services := map[string]*Service{}
	for _, org := range []string{"acme", "beta"} {
		services[org] = New(Options{
			Schedule: Schedule{FullHour: 2},
			Clock:    newFakeClock(time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)),
			Pass: func(ctx context.Context, full bool, prog *pass.Progress) (*pass.Result, error) {
				defer func() { ran <- org }()
				return succeeded(ctx, full, prog)
			},
			Status:       status,
			TriggerToken: func() string { return testToken },
		})
		services[org].StateLoaded(time.Time{}, "fresh")
	}
	lead := NewLeadership([]string{"acme", "beta"})
	lead.Gained("beta", 4)
	srv := httptest.NewServer(NewOrgs(services, lead).Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, s := range services {
		go s.Run(ctx)
	}

	if code, body := get(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no pass has succeeded yet for beta") ||
		!strings.Contains(body, `"leads":[{"epoch":4,"org":"beta"}]`) {
		t.Errorf("GET /readyz before beta's pass = %d %s; want 503 naming beta, the organisation this replica leads", code, body)
	}
	bearer := map[string]string{"Authorization": "Bearer " + testToken}
	if resp := trigger(t, srv.URL+"/v1/passes", bearer); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /v1/passes without org = %d, want 404", resp.StatusCode)
	}
	if resp := trigger(t, srv.URL+"/v1/passes?org=gamma", bearer); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /v1/passes?org=gamma = %d, want 404", resp.StatusCode)
	}
	if resp := trigger(t, srv.URL+"/v1/passes?org=beta", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/passes?org=beta without the token = %d, want 401", resp.StatusCode)
	}
	if resp := trigger(t, srv.URL+"/v1/passes?org=beta", bearer); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/passes?org=beta = %d, want 202", resp.StatusCode)
	}
	select {
	case org := <-ran:
		if org != "beta" {
			t.Fatalf("the trigger for beta ran %s's pass", org)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pass ran")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := get(t, srv.URL+"/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready after beta's pass")
		}
	}
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`licensync_passes_total{kind="incremental",org="beta",result="succeeded"} 1`,
		`licensync_passes_total{kind="incremental",org="acme",result="succeeded"} 0`,
		`licensync_leader{org="beta"} 1`,
		`licensync_leader{org="acme"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
