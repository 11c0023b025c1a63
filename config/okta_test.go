package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseOkta(t *testing.T, source string, env map[string]string) (*Config, string, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("source:\n  kind: okta\n  okta:\n")
	for _, line := range strings.Split(source, "\n") {
		b.WriteString("    " + line + "\n")
	}
	b.WriteString(ldapTemplates)
	dir := t.TempDir()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := Parse(filepath.Join(dir, "licensync.yaml"), []byte(b.String()), Options{LookupEnv: lookup})
	return c, dir, err
}

func TestOktaSourceReadsTheIssueExample(t *testing.T) {
	c, _, err := parseOkta(t, "org_url: https://example.okta.com\ntoken: ${OKTA_API_TOKEN}\ngroups: [Calling Users]\nattributes: {work_phone: primaryPhone}\ntimeout: 10s",
		map[string]string{"OKTA_API_TOKEN": "00abcSECRET"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.Source.Okta
	if o.OrgURL != "https://example.okta.com" || o.Token.Value() != "00abcSECRET" || o.Attributes.WorkPhone != "primaryPhone" || o.Timeout.D() != 10*time.Second {
		t.Fatalf("decoded %+v", o)
	}
	if len(o.Groups) != 1 || o.Groups[0] != "Calling Users" {
		t.Errorf("groups = %q", o.Groups)
	}
	if strings.Contains(o.Token.String(), "SECRET") {
		t.Errorf("the token prints as %q", o.Token.String())
	}
}

func TestOktaServiceAppKeyFileResolvesAgainstTheConfigFolder(t *testing.T) {
	c, dir, err := parseOkta(t, "org_url: https://example.okta.com\nclient_id: 0oa1\nprivate_key_file: keys/okta.pem", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Source.Okta.PrivateKeyFile, filepath.Join(dir, "keys", "okta.pem"); got != want {
		t.Errorf("private_key_file = %q, want %q", got, want)
	}
}

func TestOktaSourceConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, source, wantPath, wantMsg string
	}{
		{"a missing org_url is reported", "token: t", "source.okta.org_url", "required"},
		{"a plain http org_url is refused", "org_url: http://example.okta.com\ntoken: t", "source.okta.org_url", "must use https"},
		{"an org_url with a path is refused", "org_url: https://example.okta.com/api/v1\ntoken: t", "source.okta.org_url", "without a path"},
		{"the admin console address is refused", "org_url: https://example-admin.okta.com\ntoken: t", "source.okta.org_url", "-admin"},
		{"no credential at all is reported", "org_url: https://example.okta.com", "source.okta.token", "required"},
		{"a token together with a service app is refused", "org_url: https://example.okta.com\ntoken: t\nclient_id: c", "source.okta.token", "not both"},
		{"a client_id without a key is reported", "org_url: https://example.okta.com\nclient_id: c", "source.okta.private_key_file", "required"},
		{"a key without a client_id is reported", "org_url: https://example.okta.com\nprivate_key_file: k.pem", "source.okta.client_id", "required"},
		{"scopes with a token are refused", "org_url: https://example.okta.com\ntoken: t\nscopes: [okta.users.read]", "source.okta.scopes", "only used"},
		{"an oversized page is refused", "org_url: https://example.okta.com\ntoken: t\npage_size: 500", "source.okta.page_size", "out of range"},
		{"an empty group is refused", "org_url: https://example.okta.com\ntoken: t\ngroups: [\"\"]", "source.okta.groups", "empty"},
		{"an unknown key is refused", "org_url: https://example.okta.com\ntoken: t\nlogin_attribute: login", "source.okta.login_attribute", "unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseOkta(t, tc.source, nil)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			for _, e := range errs.List {
				if e.Path == tc.wantPath && strings.Contains(e.Msg, tc.wantMsg) {
					return
				}
			}
			t.Fatalf("no error at %s mentioning %q in:\n%v", tc.wantPath, tc.wantMsg, err)
		})
	}
}

func TestOktaPlainHTTPIsAcceptedOnlyOnLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:1"} {
		if _, _, err := parseOkta(t, "org_url: "+u+"\ntoken: t", nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
