package config

import (
	"strings"
	"testing"
)

func TestAPostgreSQLStateKeepsItsURLAndItsPasswordApart(t *testing.T) {
	const pw = "p@ss:w/rd%x"
	tests := []struct {
		name, state, extra string
		env                map[string]string
		wantState          string
		wantPassword       string
	}{
		{"a URL without a password stays as written", "postgres://lic@db.example:5432/licensync?sslmode=verify-full", "", nil,
			"postgres://lic@db.example:5432/licensync?sslmode=verify-full", ""},
		{"a password from the environment in the URL moves to state_password", "postgres://lic:${PGPW}@db.example/licensync", "", map[string]string{"PGPW": "s3cret"},
			"postgres://lic@db.example/licensync", "s3cret"},
		{"state_password from the environment is kept apart", "postgresql://lic@db.example/licensync", "state_password: ${PGPW}\n", map[string]string{"PGPW": pw},
			"postgresql://lic@db.example/licensync", pw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, "state: state/x.db", "state: "+tc.state+"\n"+tc.extra, 1)
			c, err := Parse("/etc/licensync/licensync.yaml", []byte(src), env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tc.wantState || c.StatePassword.Value() != tc.wantPassword || !c.StateIsPostgres() {
				t.Fatalf("state %q password %q, want %q and %q", c.State, c.StatePassword.Value(), tc.wantState, tc.wantPassword)
			}
		})
	}
}

func TestABadPostgreSQLStateIsRefusedWithoutShowingThePassword(t *testing.T) {
	const pw = "Sup3rSecret"
	tests := []struct {
		name, state, extra, want string
	}{
		{"a URL that does not parse", "postgres://lic:" + pw + "@db.example:port/licensync", "", "state: not a valid PostgreSQL URL"},
		{"a URL without a database", "postgres://lic:" + pw + "@db.example", "", "names no database"},
		{"a password given twice", "postgres://lic:" + pw + "@db.example/licensync", "state_password: " + pw + "\n", "give it once"},
		{"a password for a SQLite state", "state/x.db", "state_password: " + pw + "\n", "state_password: only a PostgreSQL state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(good, "state: state/x.db", "state: "+tc.state+"\n"+tc.extra, 1)
			_, err := Parse("/etc/licensync/licensync.yaml", []byte(src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
