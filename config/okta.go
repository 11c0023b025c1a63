package config

import (
	"net"
	"net/url"
	"strings"
)

// OktaSource is an Okta organisation, read through the Okta management API.
// It authenticates with an SSWS API token, or as an OAuth 2.0 service app
// with client_id and a private key.
type OktaSource struct {
	// OrgURL is the organisation, like https://example.okta.com (not the
	// -admin address).
	OrgURL string `yaml:"org_url"`
	// Token is an SSWS API token, created by an admin who can read users
	// and groups.
	Token Secret `yaml:"token"`
	// ClientID and PrivateKeyFile authenticate as an OAuth 2.0 service app
	// instead of with a token; PrivateKeyID is the key's kid, if registered
	// with one.
	ClientID       string `yaml:"client_id"`
	PrivateKeyFile string `yaml:"private_key_file"`
	PrivateKeyID   string `yaml:"private_key_id"`
	// Scopes are requested for the service app; empty means
	// okta.users.read and okta.groups.read.
	Scopes []string `yaml:"scopes"`
	// Groups, when set, limits the users to the members of these groups
	// (names or ids).
	Groups     []string       `yaml:"groups"`
	Attributes OktaAttributes `yaml:"attributes"`
	// PageSize is the number of users per request (1 to 200, Okta's
	// maximum); absent means 200.
	PageSize int `yaml:"page_size"`
	// Timeout bounds every request; absent means 30s.
	Timeout Duration `yaml:"timeout"`
	// Overlap is how far before the checkpoint an incremental pass starts
	// reading, against clock skew and Okta's eventually consistent search;
	// absent means 2m, and 0 is refused (it would miss changes).
	Overlap Duration `yaml:"overlap"`
}

// OktaAttributes names the profile attributes a user's fields are read
// from; empty ones take the default (email, displayName, primaryPhone).
// Okta's base profile has primaryPhone and mobilePhone, no workPhone;
// custom attributes can be named too.
type OktaAttributes struct {
	Email       string `yaml:"email"`
	DisplayName string `yaml:"display_name"`
	WorkPhone   string `yaml:"work_phone"`
}

func init() {
	sourceKinds["okta"] = kind{validate: validateOkta, resolve: func(c *Config) {
		c.Source.Okta.PrivateKeyFile = c.Abs(c.Source.Okta.PrivateKeyFile)
	}}
}

func validateOkta(c *Config, e *Errors) {
	o := c.Source.Okta
	if o == nil {
		e.add("source.okta", 0, "required for source.kind okta")
		return
	}
	validateOktaURL(o.OrgURL, e)
	switch {
	case o.Token != "" && (o.ClientID != "" || o.PrivateKeyFile != ""):
		e.add("source.okta.token", 0, "give either token, or client_id and private_key_file, not both")
	case o.Token == "" && o.ClientID == "" && o.PrivateKeyFile == "":
		e.add("source.okta.token", 0, "required: an SSWS API token (or client_id and private_key_file for a service app)")
	case o.Token == "" && o.ClientID == "":
		e.add("source.okta.client_id", 0, "required with private_key_file: the service app's client id")
	case o.Token == "" && o.PrivateKeyFile == "":
		e.add("source.okta.private_key_file", 0, "required with client_id: the PEM file of the service app's private key")
	}
	if o.Token != "" && len(o.Scopes) > 0 {
		e.add("source.okta.scopes", 0, "only used with client_id: an API token carries its admin's permissions")
	}
	for i, g := range o.Groups {
		if strings.TrimSpace(g) == "" {
			e.add("source.okta.groups", 0, "entry %d is empty", i+1)
		}
	}
	if c.has("source.okta.page_size") && (o.PageSize < 1 || o.PageSize > 200) {
		e.add("source.okta.page_size", 0, "%d is out of range (1 to 200, Okta's maximum; leave it out for 200)", o.PageSize)
	}
	if c.has("source.okta.timeout") && o.Timeout <= 0 {
		e.add("source.okta.timeout", 0, "%s is not a timeout (more than 0; leave it out for 30s)", o.Timeout.D())
	}
	if c.has("source.okta.overlap") && o.Overlap <= 0 {
		e.add("source.okta.overlap", 0, "%s would miss users changed just before the checkpoint (more than 0; leave it out for 2m)", o.Overlap.D())
	}
}

// validateOktaURL accepts https://host, and plain http only on a loopback
// address (a local test server).
func validateOktaURL(s string, e *Errors) {
	const field = "source.okta.org_url"
	if s == "" {
		e.add(field, 0, "required: the organisation's address, like https://example.okta.com")
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		e.add(field, 0, "%q is not an address like https://example.okta.com", s)
		return
	}
	switch {
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		e.add(field, 0, "%q must use https (plain http is only accepted on a loopback address)", s)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "":
		e.add(field, 0, "%q must be the organisation's address alone, without a path", s)
	case strings.Contains(u.Hostname(), "-admin."):
		e.add(field, 0, "%q is the admin console; use the organisation's address without -admin", s)
	}
}

// IsLoopback reports whether host names this machine (localhost or a
// loopback IP).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
