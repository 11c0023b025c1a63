package ldap

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

func TestFailuresNameTheServerAndTheSettingToCheck(t *testing.T) {
	srv := startSlapd(t, directory(60), options{TLS: true})
	const wrongPass = "not-the-Password-42"
	closed := "ldap://127.0.0.1:" + freePort(t)

	tests := []struct {
		name string
		// change turns a working configuration into the failing one.
		change  func(c *config.LDAPSource)
		wantURL string
		want    []string
	}{
		{"a wrong password names bind_dn and bind_password", func(c *config.LDAPSource) { c.BindPassword = wrongPass },
			srv.url, []string{"bind_dn", "bind_password", rootDN}},
		{"an unreachable server names url", func(c *config.LDAPSource) { c.URLs = []string{closed} },
			closed, []string{"cannot reach", "check url"}},
		{"a base DN that does not exist names base_dn", func(c *config.LDAPSource) { c.BaseDN = "ou=nowhere," + suffix },
			srv.url, []string{"ou=nowhere", "check base_dn"}},
		{"a size limit below the directory names the limit", func(c *config.LDAPSource) {
			c.BindDN, c.BindPassword, c.PageSize = "cn=reader,"+suffix, "reader-pw", 20
		}, srv.url, []string{"size limit", "for bind_dn"}},
		{"a certificate from an unknown CA names ca_file", func(c *config.LDAPSource) { c.URLs = []string{srv.ldaps} },
			srv.ldaps, []string{"TLS", "check ca_file"}},
		{"StartTLS with a certificate from an unknown CA names ca_file", func(c *config.LDAPSource) { c.StartTLS = true },
			srv.url, []string{"StartTLS", "check ca_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			tt.change(&cfg)
			err := tryPass(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range append(tt.want, tt.wantURL) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, secret := range []string{wrongPass, rootPass, "reader-pw"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a password", msg)
				}
			}
		})
	}
}

// tryPass opens a source with cfg and runs one pass.
func tryPass(cfg config.LDAPSource) error {
	src, err := Open(context.Background(), cfg, nil)
	if err != nil {
		return err
	}
	defer src.Close()
	_, _, err = src.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
	return err
}

func TestConnecting(t *testing.T) {
	srv := startSlapd(t, directory(10), options{TLS: true})
	tests := []struct {
		name   string
		change func(c *config.LDAPSource)
	}{
		{"ldaps verifies the server against ca_file", func(c *config.LDAPSource) { c.URLs, c.CAFile = []string{srv.ldaps}, srv.ca }},
		{"StartTLS verifies the server against ca_file", func(c *config.LDAPSource) { c.StartTLS, c.CAFile = true, srv.ca }},
		{"insecure_skip_verify accepts any certificate", func(c *config.LDAPSource) { c.URLs, c.InsecureSkipVerify = []string{srv.ldaps}, true }},
		{"the next url is used when the first is down", func(c *config.LDAPSource) {
			c.URLs = []string{"ldap://127.0.0.1:" + freePort(t), srv.url}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			tt.change(&cfg)
			if err := tryPass(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLostConnection(t *testing.T) {
	t.Run("a server that comes back gets the pass restarted", func(t *testing.T) {
		srv := startSlapd(t, directory(500), options{})
		cfg := srv.config(DialectOpenLDAP, people)
		cfg.PageSize = 50
		src := open(t, cfg)
		src.backoff = 50 * time.Millisecond
		calls, restarted := 0, false
		ids := map[string]bool{}
		_, _, err := src.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
			calls++
			ids[u.ID] = true
			if calls == 120 && !restarted {
				restarted = true
				srv.stop()
				srv.start()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 500 || calls <= 500 {
			t.Errorf("emitted %d distinct users in %d calls, want all 500 with the first ones again", len(ids), calls)
		}
	})
	t.Run("a server that stays down fails the pass after a few tries", func(t *testing.T) {
		srv := startSlapd(t, directory(500), options{})
		cfg := srv.config(DialectOpenLDAP, people)
		cfg.PageSize = 50
		src := open(t, cfg)
		src.backoff = 10 * time.Millisecond
		calls := 0
		_, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error {
			if calls++; calls == 60 {
				srv.stop()
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), srv.url) {
			t.Fatalf("error = %v, want one that gives up naming %s", err, srv.url)
		}
	})
	t.Run("an error from emit is returned as is", func(t *testing.T) {
		srv := startSlapd(t, directory(20), options{})
		src := open(t, srv.config(DialectOpenLDAP, people))
		stop := errors.New("stop here")
		_, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error { return stop })
		if err != stop {
			t.Fatalf("error = %v, want the emit error itself", err)
		}
	})
}

func TestInsecurePlaintextIsWarnedAboutAtEveryStart(t *testing.T) {
	srv := startSlapd(t, directory(5), options{TLS: true})
	tests := []struct {
		name string
		// change turns the plain ldap:// loopback configuration into the tested one.
		change   func(c *config.LDAPSource)
		wantURLs []string
	}{
		{"insecure_plaintext with a plain ldap url warns naming it", func(c *config.LDAPSource) { c.InsecurePlaintext = true }, []string{srv.url}},
		{"insecure_plaintext names only the plain urls", func(c *config.LDAPSource) {
			c.InsecurePlaintext, c.CAFile, c.URLs = true, srv.ca, []string{srv.ldaps, srv.url}
		}, []string{srv.url}},
		{"insecure_plaintext with start_tls does not warn", func(c *config.LDAPSource) { c.InsecurePlaintext, c.StartTLS, c.CAFile = true, true, srv.ca }, nil},
		{"plain ldap on a loopback address without insecure_plaintext does not warn", func(c *config.LDAPSource) {}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			tt.change(&cfg)
			core, logs := observer.New(zap.WarnLevel)
			for range 2 {
				src, err := Open(context.Background(), cfg, zap.New(core))
				must(t, err)
				src.Close()
			}
			var got []string
			for _, e := range logs.All() {
				if !strings.Contains(e.Message, "insecure_plaintext") || !strings.Contains(e.Message, "in clear") {
					t.Errorf("unexpected warning %q", e.Message)
				}
				got = append(got, e.ContextMap()["url"].(string))
				for _, f := range e.Context {
					if strings.Contains(f.String, rootPass) {
						t.Errorf("the warning shows the bind password in %s", f.Key)
					}
				}
			}
			var want []string
			for range 2 {
				want = append(want, tt.wantURLs...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("warned about %q over two starts, want %q", got, want)
			}
		})
	}
}
