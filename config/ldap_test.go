package config

import (
	"path/filepath"
	"strings"
	"testing"
)

const ldapTemplates = `
templates:
  - name: staff
    groups: [staff]
    licenses: [{id: L1}]
`

func TestLDAPSource(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		wantErr string
	}{
		{"a single url string is read as a list of one", "url: ldaps://dc1.example.com\nbase_dn: DC=example,DC=com\ndialect: ad\nca_file: ca.pem", ""},
		{"a list of urls is accepted", "url: [ldap://a.example.com, ldap://b.example.com]\nstart_tls: true\nbase_dn: dc=example\ndialect: openldap", ""},
		{"a missing url is reported", "base_dn: dc=example\ndialect: ad", "source.ldap.url"},
		{"an unknown scheme is reported", "url: http://a.example.com\nbase_dn: dc=example\ndialect: ad", "scheme must be ldap or ldaps"},
		{"start_tls over ldaps is reported", "url: ldaps://a.example.com\nstart_tls: true\nbase_dn: dc=example\ndialect: ad", "source.ldap.start_tls"},
		{"a missing base_dn is reported", "url: ldap://a.example.com\ndialect: ad", "source.ldap.base_dn"},
		{"an unknown dialect is reported", "url: ldap://a.example.com\nbase_dn: dc=example\ndialect: novell", "source.ldap.dialect"},
		{"a bind_dn without a password is reported", "url: ldap://a.example.com\nbase_dn: dc=example\ndialect: ad\nbind_dn: cn=svc", "source.ldap.bind_password"},
		{"an oversized page is reported", "url: ldap://a.example.com\nbase_dn: dc=example\ndialect: ad\npage_size: 20000", "source.ldap.page_size"},
		{"plain ldap off a loopback address is refused, naming the url", "url: ldap://dc1.example.com\nbase_dn: dc=example\ndialect: ad", "source.ldap.url[0]: \"ldap://dc1.example.com\" would send the bind password in clear"},
		{"plain ldap to a LAN address is refused", "url: ldap://10.1.2.3:389\nbase_dn: dc=example\ndialect: ad", "source.ldap.url[0]"},
		{"the refused url is named by its place in the list", "url: [ldaps://dc1.example.com, ldap://dc2.example.com]\nbase_dn: dc=example\ndialect: ad", "source.ldap.url[1]"},
		{"plain ldap with start_tls is accepted", "url: ldap://dc1.example.com\nstart_tls: true\nbase_dn: dc=example\ndialect: ad", ""},
		{"plain ldap with insecure_plaintext is accepted", "url: ldap://dc1.example.com\ninsecure_plaintext: true\nbase_dn: dc=example\ndialect: ad", ""},
		{"plain ldap on 127.0.0.1 is accepted", "url: ldap://127.0.0.1:3389\nbase_dn: dc=example\ndialect: openldap", ""},
		{"plain ldap on localhost is accepted", "url: ldap://localhost\nbase_dn: dc=example\ndialect: openldap", ""},
		{"plain ldap on ::1 is accepted", "url: ldap://[::1]:3389\nbase_dn: dc=example\ndialect: openldap", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("source:\n  kind: ldap\n  ldap:\n")
			for _, line := range strings.Split(tt.source, "\n") {
				b.WriteString("    " + line + "\n")
			}
			b.WriteString(ldapTemplates)
			dir := t.TempDir()
			c, err := Parse(filepath.Join(dir, "licensync.yaml"), []byte(b.String()), Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := c.Source.LDAP
			if len(l.URLs) == 0 {
				t.Fatal("no url decoded")
			}
			if l.CAFile != "" && l.CAFile != filepath.Join(dir, "ca.pem") {
				t.Errorf("ca_file = %q, want it resolved against the config folder", l.CAFile)
			}
		})
	}
}
