package config

import (
	"net/url"
	"regexp"
	"strings"
)

// GraphSource is Microsoft Entra ID, read through Microsoft Graph with an
// app registration's client credentials.
type GraphSource struct {
	// TenantID is the directory (tenant) id, or one of its verified domains.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the app registration's application (client) id.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the secret's value; exactly one of it and
	// CertificateFile is required.
	ClientSecret Secret `yaml:"client_secret"`
	// CertificateFile is the PEM certificate and private key the app
	// registration trusts, usually written file:/run/secrets/graph.pem so
	// the key itself never sits in the configuration.
	CertificateFile Secret `yaml:"certificate_file"`
	// CertificatePassword decrypts an encrypted private key.
	CertificatePassword Secret `yaml:"certificate_password"`
	// Groups, when set, limits the pass to the (transitive) members of
	// these groups, by display name or id.
	Groups     []string        `yaml:"groups"`
	Attributes GraphAttributes `yaml:"attributes"`
	// BaseURL is the Graph service root without the version, for national
	// clouds; empty means https://graph.microsoft.com.
	BaseURL string `yaml:"base_url"`
	// AuthorityHost is the identity endpoint, for national clouds; empty
	// means https://login.microsoftonline.com/.
	AuthorityHost string `yaml:"authority_host"`
	// CAFile is a PEM bundle of extra CAs to trust for both endpoints (a
	// TLS-inspecting proxy); empty means the system roots only.
	CAFile string `yaml:"ca_file"`
	// PageSize is how many users each page asks for (Graph allows 999);
	// absent means 999.
	PageSize int `yaml:"page_size"`
	// Timeout bounds every request; absent means 30s.
	Timeout Duration `yaml:"timeout"`
}

// GraphAttributes names the user properties fields are read from.
type GraphAttributes struct {
	// WorkPhone is businessPhones (the first one), mobilePhone, or a
	// directory extension property (extension_<app id>_<name>); empty
	// means businessPhones.
	WorkPhone string `yaml:"work_phone"`
}

// graphPhoneAttributes are the user properties a work phone can come from,
// besides directory extensions.
var graphPhoneAttributes = map[string]bool{"businessphones": true, "mobilephone": true}

var (
	graphTenant    = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	graphExtension = regexp.MustCompile(`^extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]+$`)
)

func init() {
	sourceKinds["graph"] = kind{validate: validateGraph, resolve: func(c *Config) { c.Source.Graph.CAFile = c.Abs(c.Source.Graph.CAFile) }}
}

func validateGraph(c *Config, e *Errors) {
	g := c.Source.Graph
	if g == nil {
		e.add("source.graph", 0, "required for source.kind graph")
		return
	}
	switch t := strings.TrimSpace(g.TenantID); {
	case t == "":
		e.add("source.graph.tenant_id", 0, "required: the directory (tenant) id from the app registration's overview page")
	case !graphTenant.MatchString(t):
		e.add("source.graph.tenant_id", 0, "%q is not a tenant id (a GUID, or a domain such as contoso.onmicrosoft.com)", t)
	}
	if strings.TrimSpace(g.ClientID) == "" {
		e.add("source.graph.client_id", 0, "required: the application (client) id of the app registration")
	}
	switch {
	case g.ClientSecret == "" && g.CertificateFile == "":
		e.add("source.graph.client_secret", 0, "required (or certificate_file): the app registration's client secret, like ${GRAPH_CLIENT_SECRET}")
	case g.ClientSecret != "" && g.CertificateFile != "":
		e.add("source.graph.certificate_file", 0, "give either client_secret or certificate_file, not both")
	case g.CertificateFile != "" && !strings.Contains(g.CertificateFile.Value(), "-----BEGIN"):
		e.add("source.graph.certificate_file", 0, "holds no PEM data: write it as file:/path/to/graph.pem")
	}
	for i, grp := range g.Groups {
		if strings.TrimSpace(grp) == "" {
			e.add("source.graph.groups", 0, "entry %d is empty", i+1)
		}
	}
	if a := g.Attributes.WorkPhone; a != "" && !graphPhoneAttributes[strings.ToLower(a)] && !graphExtension.MatchString(a) {
		e.add("source.graph.attributes.work_phone", 0, "%q is not businessPhones, mobilePhone or a directory extension like extension_<app id>_workPhone", a)
	}
	for _, f := range []struct{ path, value string }{{"source.graph.base_url", g.BaseURL}, {"source.graph.authority_host", g.AuthorityHost}} {
		if f.value == "" {
			continue
		}
		u, err := url.Parse(f.value)
		switch {
		case err != nil || u.Host == "":
			e.add(f.path, 0, "%q is not a URL like https://graph.microsoft.us", f.value)
		case u.Scheme != "https":
			e.add(f.path, 0, "%q: must be https (tokens and directory data are never sent in clear)", f.value)
		}
	}
	if c.has("source.graph.page_size") && (g.PageSize < 1 || g.PageSize > 999) {
		e.add("source.graph.page_size", 0, "%d is out of range (1 to 999; leave it out for 999)", g.PageSize)
	}
	if c.has("source.graph.timeout") && g.Timeout <= 0 {
		e.add("source.graph.timeout", 0, "%s is not a timeout (more than 0; leave it out for 30s)", g.Timeout.D())
	}
}
