package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseGraph(t *testing.T, source string, env map[string]string) (*Config, string, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("source:\n  kind: graph\n  graph:\n")
	for _, line := range strings.Split(source, "\n") {
		b.WriteString("    " + line + "\n")
	}
	b.WriteString(ldapTemplates)
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "licensync.yaml"), []byte(b.String()), Options{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	return c, dir, err
}

func TestGraphSource(t *testing.T) {
	const base = "tenant_id: 0b1c2d3e-0000-4000-8000-000000000001\nclient_id: 11111111-2222-3333-4444-555555555555\n"
	tests := []struct {
		name    string
		source  string
		wantErr string
	}{
		{"a secret from the environment is accepted", base + "client_secret: ${GRAPH_SECRET}", ""},
		{"a domain is accepted as the tenant", "tenant_id: contoso.onmicrosoft.com\nclient_id: c\nclient_secret: s", ""},
		{"a national cloud with its identity endpoint is accepted", base + "client_secret: s\nbase_url: https://graph.microsoft.us\nauthority_host: https://login.microsoftonline.us/\nca_file: proxy.pem", ""},
		{"mobilePhone and directory extensions are phone attributes", base + "client_secret: s\nattributes: {work_phone: extension_0123456789abcdef0123456789abcdef_workPhone}", ""},
		{"a missing tenant is reported", "client_id: c\nclient_secret: s", "source.graph.tenant_id: required"},
		{"a tenant with a slash is reported", "tenant_id: a/b\nclient_id: c\nclient_secret: s", "is not a tenant id"},
		{"a missing client id is reported", "tenant_id: t\nclient_secret: s", "source.graph.client_id"},
		{"no credential at all is reported", base, "source.graph.client_secret: required"},
		{"a secret and a certificate together are reported", base + "client_secret: s\ncertificate_file: \"-----BEGIN CERTIFICATE-----\"", "not both"},
		{"a certificate path without file: is reported", base + "certificate_file: /run/secrets/graph.pem", "write it as file:"},
		{"an unknown phone attribute is reported", base + "client_secret: s\nattributes: {work_phone: telephoneNumber}", "source.graph.attributes.work_phone"},
		{"an http base_url is reported", base + "client_secret: s\nbase_url: http://graph.example", "must be https"},
		{"an authority host that is not a URL is reported", base + "client_secret: s\nauthority_host: login", "source.graph.authority_host"},
		{"a page over Graph's limit is reported", base + "client_secret: s\npage_size: 1000", "source.graph.page_size"},
		{"an empty scope group is reported", base + "client_secret: s\ngroups: [\"\"]", "source.graph.groups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dir, err := parseGraph(t, tt.source, map[string]string{"GRAPH_SECRET": "s3cr3t-value"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := c.Source.Graph
			if g.TenantID == "" || g.ClientID == "" {
				t.Fatalf("ids not decoded: %+v", g)
			}
			if g.CAFile != "" && g.CAFile != filepath.Join(dir, "proxy.pem") {
				t.Errorf("ca_file = %q, want it resolved against the config folder", g.CAFile)
			}
		})
	}
}

func TestGraphCertificateIsReadFromTheFileItNames(t *testing.T) {
	dir := t.TempDir()
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	p := filepath.Join(dir, "graph.pem")
	if err := os.WriteFile(p, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := parseGraph(t, "tenant_id: t\nclient_id: c\ncertificate_file: file:"+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Source.Graph.CertificateFile.Value(); !strings.HasPrefix(got, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("certificate_file = %q, want the file's PEM", got)
	}
	if s := c.Source.Graph.CertificateFile.String(); s != "[redacted]" {
		t.Fatalf("certificate_file prints as %q, want it redacted", s)
	}
}

func TestGraphErrorsNeverShowTheSecret(t *testing.T) {
	_, _, err := parseGraph(t, "client_id: c\nclient_secret: ${GRAPH_SECRET}\npage_size: -1", map[string]string{"GRAPH_SECRET": "s3cr3t-value"})
	if err == nil {
		t.Fatal("want errors for the missing tenant and the page size")
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Fatalf("the error shows the secret: %v", err)
	}
}
