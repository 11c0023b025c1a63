package ldap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

func TestTheUserSearchConnectionFailsLikeTheSourceConnection(t *testing.T) {
	srv := startSlapd(t, directory(30), options{TLS: true})
	const wrongPass = "changed-Under-The-Source-7"
	tests := []struct {
		name string
		// change turns the open source's settings into ones only the user
		// search's own connection, opened later in the pass, meets.
		change func(s *Source)
		want   []string
	}{
		{"a password changed since Open names bind_dn and bind_password", func(s *Source) { s.cfg.BindPassword = wrongPass },
			[]string{"bind_dn", "bind_password", rootDN, srv.url}},
		{"StartTLS against an unknown CA names ca_file", func(s *Source) { s.cfg.StartTLS = true },
			[]string{"StartTLS", "check ca_file", srv.url}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := open(t, srv.config(DialectOpenLDAP, people))
			tt.change(src)
			calls := 0
			_, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error { calls++; return nil })
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, secret := range []string{wrongPass, rootPass} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows a password", msg)
				}
			}
			if calls != 0 {
				t.Errorf("%d users emitted before the failure, want none", calls)
			}
		})
	}
}

func TestThePagedSearchReadsEveryUserOfEveryPageOverEachTransport(t *testing.T) {
	// Pages of 100 and a short last one: the reader expects each page to
	// be as long as the one before, and must take the short one as well.
	const n = 1250
	srv := startSlapd(t, directory(n), options{TLS: true})
	tests := []struct {
		name   string
		change func(c *config.LDAPSource)
	}{
		{"plain ldap", func(c *config.LDAPSource) {}},
		{"ldaps", func(c *config.LDAPSource) { c.URLs = []string{srv.ldaps} }},
		{"StartTLS", func(c *config.LDAPSource) { c.StartTLS = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			cfg.PageSize, cfg.CAFile = 100, srv.ca
			tt.change(&cfg)
			src := open(t, cfg)
			ids := map[string]int{}
			if _, _, err := src.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
				ids[u.ID]++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(ids) != n {
				t.Errorf("read %d distinct users, want %d", len(ids), n)
			}
			for id, k := range ids {
				if k != 1 {
					t.Errorf("user %s emitted %d times", id, k)
				}
			}
			// One page of groups, twelve full pages of users and a short one.
			if got, want := src.Stats().Pages, 1+n/100+1; got != want {
				t.Errorf("read %d pages, want %d", got, want)
			}
		})
	}
}

func TestAConsumerSlowerThanTheTimeoutDoesNotTimeTheSearchOut(t *testing.T) {
	// The next page is asked for before this one is used: its answer has
	// the whole timeout once the reader gets to it.
	const n = 300
	srv := startSlapd(t, directory(n), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.PageSize, cfg.Timeout = 100, config.Duration(time.Second)
	src := open(t, cfg)
	src.backoff = 10 * time.Millisecond
	calls := 0
	if _, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error {
		if calls++; calls == 1 {
			time.Sleep(1500 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if calls != n {
		t.Errorf("%d users emitted, want %d once each: the pass was restarted", calls, n)
	}
}
