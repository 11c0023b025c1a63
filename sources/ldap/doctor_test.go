package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
)

// failedChecks returns the names of the checks that failed, in order, and
// fails the test when a check shows the bind password.
func failedChecks(t *testing.T, checks []doctor.Check, secrets ...string) []string {
	t.Helper()
	var out []string
	for _, c := range checks {
		for _, s := range secrets {
			if strings.Contains(c.Tried+c.Detail+c.Fix, s) {
				t.Errorf("check %q shows a password: %+v", c.Name, c)
			}
		}
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

func checkNamed(checks []doctor.Check, name string) doctor.Check {
	for _, c := range checks {
		if c.Name == name {
			return c
		}
	}
	return doctor.Check{Name: name + " (missing)"}
}

func TestDoctorOnOpenLDAPNamesEachFailingCheck(t *testing.T) {
	srv := startSlapd(t, directory(30), options{TLS: true})
	closed := "ldap://127.0.0.1:" + freePort(t)
	localhost := strings.Replace(srv.ldaps, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name   string
		change func(c *config.LDAPSource)
		groups []string
		// failed names the checks that fail, in order; detail is what the
		// first of them says, and fix what it asks for.
		failed      []string
		detail, fix string
	}{
		{"a verified ldaps server that holds everything passes", func(c *config.LDAPSource) {}, []string{"sales", groupDN("support")}, nil, "", ""},
		{"an unreachable url", func(c *config.LDAPSource) { c.URLs = []string{closed} }, nil,
			[]string{"ldap server " + closed}, "connection refused", "check url"},
		{"a certificate from an unknown CA", func(c *config.LDAPSource) { c.CAFile = "" }, nil,
			[]string{"ldap TLS " + srv.ldaps}, "signed by an unknown authority (issuer \"CN=licensync test CA\")", "set ca_file"},
		{"a certificate for another name", func(c *config.LDAPSource) { c.URLs = []string{localhost} }, nil,
			[]string{"ldap TLS " + localhost}, "the certificate names 127.0.0.1, not localhost", "host name the certificate carries"},
		{"StartTLS verified against ca_file", func(c *config.LDAPSource) { c.URLs, c.StartTLS = []string{srv.url}, true }, nil, nil, "", ""},
		{"StartTLS with a certificate from an unknown CA", func(c *config.LDAPSource) { c.URLs, c.StartTLS, c.CAFile = []string{srv.url}, true, "" }, nil,
			[]string{"ldap TLS " + srv.url}, "signed by an unknown authority", "set ca_file"},
		{"StartTLS to a name the certificate lacks", func(c *config.LDAPSource) {
			c.URLs, c.StartTLS = []string{strings.Replace(srv.url, "127.0.0.1", "localhost", 1)}, true
		}, nil, []string{"ldap TLS " + strings.Replace(srv.url, "127.0.0.1", "localhost", 1)}, "the certificate names another host: certificate is not valid for any names, but wanted to match localhost", "host name the certificate carries"},
		{"a wrong password", func(c *config.LDAPSource) { c.BindPassword = "not-the-Password-42" }, nil,
			[]string{"ldap bind " + srv.ldaps}, "invalid credentials", "check bind_dn and bind_password"},
		{"a base_dn that does not exist", func(c *config.LDAPSource) { c.BaseDN = "ou=nowhere," + suffix }, nil,
			[]string{"ldap base_dn"}, "no such entry", "set base_dn"},
		{"a group_base_dn that does not exist", func(c *config.LDAPSource) { c.GroupBaseDN = "ou=nowhere," + suffix }, nil,
			[]string{"ldap group_base_dn"}, "no such entry", "set group_base_dn"},
		{"a template group that is not there", func(c *config.LDAPSource) {}, []string{"sales", "Retired Phones"},
			[]string{`ldap template group "Retired Phones"`}, "not among the", "name the group"},
		{"an attribute no user carries", func(c *config.LDAPSource) { c.Attributes.WorkPhone = "homePhone" }, nil,
			[]string{"ldap attribute homePhone (work_phone)"}, "no user carries it", "attributes.work_phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			cfg.URLs, cfg.CAFile = []string{srv.ldaps}, srv.ca
			tt.change(&cfg)
			checks := Doctor(context.Background(), cfg, tt.groups)
			failed := failedChecks(t, checks, rootPass, "not-the-Password-42")
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", failed, tt.failed, checks)
			}
			if len(tt.failed) == 0 {
				u := cfg.URLs[0]
				want := []string{"ldap server " + u, "ldap TLS " + u, "ldap bind " + u, "ldap base_dn", "ldap group_base_dn",
					"ldap users", "ldap attribute entryUUID (id)", "ldap attribute telephoneNumber (work_phone)"}
				for _, g := range tt.groups {
					want = append(want, fmt.Sprintf("ldap template group %q", g))
				}
				for _, want := range want {
					if c := checkNamed(checks, want); !c.OK {
						t.Errorf("check %q: %+v, want it passed", want, c)
					}
				}
				return
			}
			c := checkNamed(checks, tt.failed[0])
			if !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("%+v\nwant the detail to say %q and the fix %q", c, tt.detail, tt.fix)
			}
		})
	}
}

func TestDoctorNamesAnExpiredCertificate(t *testing.T) {
	expired := &x509.Certificate{NotAfter: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	err := &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: expired, Reason: x509.Expired}}
	c := tlsFailure("ldap TLS ldaps://dc1", "TLS handshake with dc1:636", err)
	if c.OK || c.Detail != "the certificate expired on 2025-03-01" || c.Fix != "renew the server's certificate" {
		t.Errorf("%+v", c)
	}
}

func TestDoctorNamesTheADAccountStateBehindABindRefusal(t *testing.T) {
	for _, tc := range []struct{ data, detail string }{
		{"52e", "wrong password"},
		{"775", "locked out"},
		{"532", "password has expired"},
		{"533", "disabled"},
	} {
		t.Run(tc.data, func(t *testing.T) {
			err := goldap.NewError(goldap.LDAPResultInvalidCredentials,
				errors.New("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data "+tc.data+", v4563"))
			if c := bindFailure("ldap bind", "bind", err); c.OK || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Detail, "data "+tc.data) {
				t.Errorf("%+v; want it to say %q", c, tc.detail)
			}
		})
	}
}

// plainADUser adds, once per domain controller, a user with no rights
// beyond an authenticated user's, and returns its DN and password.
func (s *sambaDC) plainADUser(t *testing.T) (string, string) {
	t.Helper()
	const pass = "Pl4in-User-Pa55!"
	dn := "CN=licensync doctor,CN=Users," + adDomain
	pem, err := os.ReadFile(s.ca)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := goldap.DialURL(s.ldaps, goldap.DialWithTLSConfig(&tls.Config{RootCAs: pool}))
	must(t, err)
	defer c.Close()
	must(t, c.Bind(adAdmin, adPassword))
	quoted := utf16.Encode([]rune(`"` + pass + `"`))
	pw := make([]byte, 2*len(quoted))
	for i, r := range quoted {
		binary.LittleEndian.PutUint16(pw[2*i:], r)
	}
	add := goldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"user"})
	add.Attribute("sAMAccountName", []string{"lsdoctor"})
	add.Attribute("unicodePwd", []string{string(pw)})
	add.Attribute("userAccountControl", []string{"512"})
	if err := c.Add(add); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists) {
		t.Fatal(err)
	}
	return dn, pass
}

func TestDoctorOnSambaADNamesTheRightsABindAccountLacks(t *testing.T) {
	s := samba(t)
	plainDN, plainPass := s.plainADUser(t)
	// A domain in use holds tombstones; this one gets one outside the
	// tests' OUs.
	admin := s.admin(t)
	gone := "CN=licensync doctor gone,CN=Users," + adDomain
	add := goldap.NewAddRequest(gone, nil)
	add.Attribute("objectClass", []string{"user"})
	add.Attribute("sAMAccountName", []string{"lsdoctorgone"})
	must(t, admin.Add(add))
	must(t, admin.Del(goldap.NewDelRequest(gone, nil)))
	for _, tt := range []struct {
		name string
		bind func(c *config.LDAPSource)
		// failed names the checks that fail, in order.
		failed []string
		fix    string
	}{
		{"the domain's administrator may do all a pass does", func(c *config.LDAPSource) {}, nil, ""},
		{"a plain user may not list Deleted Objects", func(c *config.LDAPSource) { c.BindDN, c.BindPassword = plainDN, config.Secret(plainPass) },
			[]string{"ad Deleted Objects"}, "List Contents and Read Property on CN=Deleted Objects," + adDomain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.config(adDemo)
			cfg.URLs, cfg.CAFile = []string{s.ldaps}, s.ca
			tt.bind(&cfg)
			checks := Doctor(context.Background(), cfg, []string{"Calling Users", "CN=Lobby Phones,OU=Demo," + adDomain})
			failed := failedChecks(t, checks, adPassword, plainPass)
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", failed, tt.failed, checks)
			}
			for _, want := range []string{"ldap bind " + s.ldaps, "ldap group_base_dn", `ldap template group "Calling Users"`,
				"ldap attribute objectGUID (id)", "ad memberOf", "ad DirSync"} {
				if c := checkNamed(checks, want); !c.OK {
					t.Errorf("check %q: %+v, want it passed", want, c)
				}
			}
			if len(tt.failed) > 0 {
				if c := checkNamed(checks, tt.failed[0]); !strings.Contains(c.Fix, tt.fix) {
					t.Errorf("%+v\nwant the fix to name %q", c, tt.fix)
				}
			}
		})
	}
}
