package config

import (
	"fmt"
	"net/url"
	"strings"
)

// LDAPSource is an LDAP directory: Active Directory or OpenLDAP.
type LDAPSource struct {
	// URLs are tried in order until one answers (ldap:// or ldaps://).
	URLs []string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS bool `yaml:"start_tls"`
	// InsecurePlaintext allows an ldap:// URL without StartTLS off a
	// loopback address, which sends the bind password in clear; it is
	// warned about at every start.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// CAFile is a PEM bundle of the CAs that sign the server certificate;
	// empty means the system roots.
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	BindDN             string `yaml:"bind_dn"`
	BindPassword       Secret `yaml:"bind_password"`
	BaseDN             string `yaml:"base_dn"`
	// Filter selects the users; empty means the dialect's default.
	Filter   string `yaml:"filter"`
	PageSize int    `yaml:"page_size"`
	// Dialect is ad or openldap.
	Dialect    string         `yaml:"dialect"`
	Attributes LDAPAttributes `yaml:"attributes"`
	// GroupBaseDN is where groups are read from; empty means the naming
	// context holding BaseDN, as the server's rootDSE shows it.
	GroupBaseDN string   `yaml:"group_base_dn"`
	Timeout     Duration `yaml:"timeout"`
}

// LDAPAttributes names the attributes a user's fields are read from; empty
// ones take the dialect's default.
type LDAPAttributes struct {
	ID          string `yaml:"id"`
	Email       string `yaml:"email"`
	DisplayName string `yaml:"display_name"`
	WorkPhone   string `yaml:"work_phone"`
}

func init() {
	sourceKinds["ldap"] = kind{validate: validateLDAP, resolve: func(c *Config) { c.Source.LDAP.CAFile = c.Abs(c.Source.LDAP.CAFile) }}
}

func validateLDAP(c *Config, e *Errors) {
	l := c.Source.LDAP
	if l == nil {
		e.add("source.ldap", 0, "required for source.kind ldap")
		return
	}
	if len(l.URLs) == 0 {
		e.add("source.ldap.url", 0, "required: the server, like ldaps://dc1.example.com")
	}
	for i, u := range l.URLs {
		p, err := url.Parse(u)
		switch {
		case err != nil || p.Host == "":
			e.add("source.ldap.url", 0, "%q is not a URL like ldaps://dc1.example.com (entry %d)", u, i+1)
		case p.Scheme != "ldap" && p.Scheme != "ldaps":
			e.add("source.ldap.url", 0, "%q: the scheme must be ldap or ldaps", u)
		case p.Scheme == "ldaps" && l.StartTLS:
			e.add("source.ldap.start_tls", 0, "StartTLS cannot be used with %q, which is already TLS", u)
		case l.Plaintext(p) && !IsLoopback(p.Hostname()) && !l.InsecurePlaintext:
			e.add(fmt.Sprintf("source.ldap.url[%d]", i), 0, "%q would send the bind password in clear: use ldaps:// or start_tls: true (plain ldap is only accepted on a loopback address, or with insecure_plaintext: true)", u)
		}
	}
	if strings.TrimSpace(l.BaseDN) == "" {
		e.add("source.ldap.base_dn", 0, "required: the subtree holding the users, like DC=example,DC=com")
	}
	if l.BindDN != "" && l.BindPassword == "" {
		e.add("source.ldap.bind_password", 0, "required with bind_dn")
	}
	switch strings.ToLower(l.Dialect) {
	case "ad", "openldap":
	case "":
		e.add("source.ldap.dialect", 0, "required: ad or openldap")
	default:
		e.add("source.ldap.dialect", 0, "%q is not a dialect (ad or openldap)", l.Dialect)
	}
	if c.has("source.ldap.page_size") && (l.PageSize < 1 || l.PageSize > 10000) {
		e.add("source.ldap.page_size", 0, "%d is out of range (1 to 10000; leave it out for 500)", l.PageSize)
	}
	if c.has("source.ldap.timeout") && l.Timeout <= 0 {
		e.add("source.ldap.timeout", 0, "%s is not a timeout (more than 0; leave it out for 30s)", l.Timeout.D())
	}
}

// Plaintext reports whether the source talks to u, one of its URLs, without
// TLS: ldap:// without StartTLS.
func (l *LDAPSource) Plaintext(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, "ldap") && !l.StartTLS
}
