package ldap

import (
	"context"
	"strings"
	"testing"

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
