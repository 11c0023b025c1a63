package okta

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	licpass "github.com/licensync/licensync/pass"
)

// logText renders every log entry with its fields.
func logText(logs *observer.ObservedLogs) string {
	var b strings.Builder
	for _, e := range logs.All() {
		fmt.Fprintf(&b, "%s %s %v\n", e.Level, e.Message, e.ContextMap())
	}
	return b.String()
}

func TestFaultsGiveOneClearMessageKeepTheCheckpointAndNeverShowTheToken(t *testing.T) {
	const wrongToken = "00WRONGtokenSECRETvalue-xyz"
	tests := []struct {
		name string
		// fault breaks the organisation, or returns another address, or
		// another token, to use.
		fault func(t *testing.T, f *fakeOkta) (orgURL, token string)
		want  []string
	}{
		{"a bad token names the error code and the token setting",
			func(t *testing.T, f *fakeOkta) (string, string) { return f.URL(), wrongToken },
			[]string{"rejected the credentials", "401 E0000011 Invalid token provided", "errorId oae", "check source.okta.token"}},
		{"a missing permission names the role the token's admin needs",
			func(t *testing.T, f *fakeOkta) (string, string) {
				f.mu.Lock()
				defer f.mu.Unlock()
				f.forbidden = true
				return f.URL(), f.token
			},
			[]string{"permission denied", "403 E0000006", "Read-only Administrator", "okta.users.read"}},
		{"an unknown organisation names the org_url setting",
			func(t *testing.T, f *fakeOkta) (string, string) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(http.StatusNotFound)
					fmt.Fprint(w, "<html><title>Okta - Page Not Found</title></html>")
				}))
				t.Cleanup(srv.Close)
				return srv.URL, f.token
			},
			[]string{"no Okta organisation answers there", "check source.okta.org_url"}},
		{"an address that is not Okta says so",
			func(t *testing.T, f *fakeOkta) (string, string) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, "<html>intranet</html>")
				}))
				t.Cleanup(srv.Close)
				return srv.URL, f.token
			},
			[]string{"the answer is not Okta's", "check source.okta.org_url"}},
		{"an unreachable organisation names the org_url setting",
			func(t *testing.T, f *fakeOkta) (string, string) {
				srv := httptest.NewServer(http.NotFoundHandler())
				srv.Close()
				return srv.URL, f.token
			},
			[]string{"cannot reach the organisation", "check source.okta.org_url", "connection refused"}},
		{"server errors that last are reported after the retries",
			func(t *testing.T, f *fakeOkta) (string, string) {
				f.setFail(100, http.StatusInternalServerError)
				return f.URL(), f.token
			},
			[]string{"Okta server error 500 E0000009 Internal Server Error", "after 3 retries", "errorId oae"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			f := demoOkta(t, clk)
			d := newDemoOrg(t)
			logs, observed := observer.New(zapcore.DebugLevel)
			log := zap.New(logs)
			good := openFake(t, f, Options{Log: log, TemplateGroups: d.templateGroups()}, nil)
			_, _, err := d.pass(good, licpass.Apply)
			must(t, err)
			before, err := d.store.Checkpoint(context.Background(), "okta")
			must(t, err)
			if before == "" {
				t.Fatal("the good pass stored no checkpoint")
			}

			org, token := tc.fault(t, f)
			bad := openFake(t, f, Options{Log: log, TemplateGroups: d.templateGroups()}, func(c *config.OktaSource) {
				c.OrgURL, c.Token = org, config.Secret(token)
			})
			clk.Advance(10 * 60e9)
			_, _, err = d.pass(bad, licpass.Apply)
			if err == nil {
				t.Fatal("the pass succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if n := strings.Count(msg, "okta: "); n != 1 {
				t.Errorf("the message repeats itself (%d times \"okta: \"): %s", n, msg)
			}
			after, err := d.store.Checkpoint(context.Background(), "okta")
			must(t, err)
			if after != before {
				t.Errorf("the checkpoint moved after a failed pass:\n%s\n%s", before, after)
			}
			all := msg + logText(observed)
			for _, secret := range []string{testToken, wrongToken} {
				if strings.Contains(all, secret) {
					t.Errorf("a token shows in the error or the logs:\n%s", all)
				}
			}
		})
	}
}

func TestShortServerOutagesAreRetried(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	populate(f, 3)
	f.setFail(2, http.StatusServiceUnavailable)
	s := openFake(t, f, Options{}, nil)
	got, _, _ := read(t, s, "")
	if len(got) != 3 {
		t.Fatalf("%d users, want 3", len(got))
	}
	if st := s.Stats(); st.Retries != 2 || st.Requests != int64(len(f.Requests())) {
		t.Errorf("stats = %+v, want 2 retries of %d requests", st, len(f.Requests()))
	}
}

// serviceAppKey writes a PKCS#8 RSA key and returns its path and public key.
func serviceAppKey(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	must(t, err)
	path := filepath.Join(t.TempDir(), "okta.pem")
	must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return path, &k.PublicKey
}

func TestAServiceAppSignsInWithItsPrivateKey(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), "")
	populate(f, 3)
	key, pub := serviceAppKey(t)
	f.serviceApp, f.serviceKey, f.accessToken = "0oaLICENSYNC", pub, "eyACCESS-token-SECRET"
	s := openFake(t, f, Options{}, func(c *config.OktaSource) { c.ClientID, c.PrivateKeyFile = "0oaLICENSYNC", key })
	got, _, _ := read(t, s, "")
	if len(got) != 3 {
		t.Fatalf("%d users, want 3", len(got))
	}
	tokens := 0
	for _, r := range f.Requests() {
		if strings.HasPrefix(r, "POST /oauth2/v1/token?") {
			tokens++
		}
	}
	if tokens != 1 || !strings.HasPrefix(f.Requests()[0], "POST /oauth2/v1/token?") {
		t.Errorf("requests = %q, want one token request first, its access token used after", f.Requests())
	}

	t.Run("a key the app does not have is refused with the settings to check", func(t *testing.T) {
		other, _ := serviceAppKey(t)
		logs, observed := observer.New(zapcore.DebugLevel)
		s := openFake(t, f, Options{Log: zap.New(logs)}, func(c *config.OktaSource) { c.ClientID, c.PrivateKeyFile = "0oaLICENSYNC", other })
		_, _, err := s.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "refused the service app's credentials (invalid_client") ||
			!strings.Contains(err.Error(), "private_key_file") {
			t.Fatalf("err = %v", err)
		}
		if all := err.Error() + logText(observed); strings.Contains(all, "client_assertion=") || strings.Contains(all, "eyJ") {
			t.Errorf("the signed assertion shows in the error or the logs: %s", all)
		}
	})
}

func TestAnUnusableKeyFileIsReportedWhenOpening(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "key.txt")
	must(t, os.WriteFile(notPEM, []byte("not a key"), 0o600))
	tests := []struct{ name, path, want string }{
		{"a missing file", filepath.Join(dir, "none.pem"), "reading private_key_file"},
		{"a file without PEM", notPEM, "holds no PEM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), config.OktaSource{OrgURL: "https://example.okta.com", ClientID: "0oa1", PrivateKeyFile: tt.path}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEveryRequestTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	f := newFakeOkta(t, newFakeClock(), testToken)
	s := openFake(t, f, Options{}, func(c *config.OktaSource) { c.OrgURL, c.Timeout = srv.URL, config.Duration(20e6) })
	_, _, err := s.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "no answer within 20ms (source.okta.timeout)") {
		t.Fatalf("err = %v", err)
	}
	if st := s.Stats(); st.Requests != errorRetries+1 {
		t.Errorf("%d attempts, want %d", st.Requests, errorRetries+1)
	}
}
