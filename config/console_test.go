package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestTheConsoleSectionIsReadAndChecked(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		htpasswd string // written as the file "htpasswd" beside the config
		console  string
		wantErr  string
		check    func(c *Console) bool
	}{
		{"a bcrypt password file is read by user", "# help desk\nann:" + string(hash) + "\n", "{htpasswd: htpasswd}", "",
			func(c *Console) bool { return string(c.Users()["ann"]) == string(hash) && len(c.Users()) == 1 }},
		{"a trusted header is honoured from the named proxies", "", "{trusted_header: X-Forwarded-User, trusted_proxies: [10.1.0.0/16, 127.0.0.1]}", "",
			func(c *Console) bool {
				p := c.Proxies()
				return len(p) == 2 && p[0] == netip.MustParsePrefix("10.1.0.0/16") && p[1] == netip.MustParsePrefix("127.0.0.1/32")
			}},
		{"an MD5 hash is refused without being quoted", "ann:$apr1$abc$0123456789abcdefghijkl\n", "{htpasswd: htpasswd}", "line 1: the hash of user \"ann\" is not bcrypt", nil},
		{"a line without a colon is refused", "ann\n", "{htpasswd: htpasswd}", "line 1 is not user:hash", nil},
		{"a user listed twice is refused", "ann:" + string(hash) + "\nann:" + string(hash) + "\n", "{htpasswd: htpasswd}", "line 2: user \"ann\" is listed twice", nil},
		{"an empty password file is refused", "\n", "{htpasswd: htpasswd}", "holds no user", nil},
		{"a missing password file is refused", "", "{htpasswd: nowhere}", "daemon.console.htpasswd: cannot read the password file", nil},
		{"a trusted header without proxies is refused", "", "{trusted_header: X-Forwarded-User}", "daemon.console.trusted_proxies: is empty", nil},
		{"proxies without a header are refused", "", "{trusted_proxies: [10.0.0.1]}", "daemon.console.trusted_header is not", nil},
		{"a proxy that is no address is refused", "", "{trusted_header: X-User, trusted_proxies: [proxy.example]}", "entry 1, \"proxy.example\", is not an address", nil},
		{"a header name with a space is refused", "", "{trusted_header: X User, trusted_proxies: [10.0.0.1]}", "is not a header name", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.htpasswd != "" {
				if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(tc.htpasswd), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Parse(filepath.Join(dir, "licensync.yaml"), []byte("daemon: {console: "+tc.console+"}\n"+webexTemplates), Options{LookupEnv: func(string) (string, bool) { return "", false }})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "$2a$") {
					t.Fatalf("err = %v, want one saying %q and quoting no hash", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(&c.Daemon.Console) {
				t.Fatalf("console = %+v", c.Daemon.Console)
			}
		})
	}
}
