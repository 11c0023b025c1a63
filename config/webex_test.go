package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const webexTemplates = `
source:
  file:
    path: users.csv
templates:
  - name: Sales
    licenses:
      - id: L1
`

func parseWebex(t *testing.T, target string, env map[string]string) (*Config, error) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return Parse(t.TempDir()+"/licensync.yaml", []byte("target:\n"+target+webexTemplates), Options{LookupEnv: lookup})
}

func TestWebexTargetDefaultsApplyWhenOnlyTheTokenIsGiven(t *testing.T) {
	c, err := parseWebex(t, "  kind: webex\n  webex:\n    token: ${WEBEX_TOKEN}\n", map[string]string{"WEBEX_TOKEN": "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Target.Webex
	if w.Token.Value() != "tok-123" {
		t.Errorf("token = %q, want it read from the environment", w.Token.Value())
	}
	if w.BaseURL != DefaultWebexBaseURL || w.Rate != 10 || w.Concurrency != 4 || w.Timeout.D() != 30*time.Second {
		t.Errorf("defaults = %q %v %d %s", w.BaseURL, w.Rate, w.Concurrency, w.Timeout.D())
	}
}

func TestWebexTargetConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, target string
		wantPaths    []string
	}{
		{"a webex target without a token is refused", "  kind: webex\n", []string{"target.webex.token"}},
		{"a refresh token without the client credentials names both missing fields",
			"  kind: webex\n  webex:\n    token: t\n    refresh_token: r\n",
			[]string{"target.webex.client_id", "target.webex.client_secret"}},
		{"a base URL that is not http(s) is refused", "  kind: webex\n  webex:\n    token: t\n    base_url: ftp://x\n", []string{"target.webex.base_url"}},
		{"a negative rate is refused", "  kind: webex\n  webex:\n    token: t\n    rate: -1\n", []string{"target.webex.rate"}},
		{"a concurrency above the cap is refused", "  kind: webex\n  webex:\n    token: t\n    concurrency: 500\n", []string{"target.webex.concurrency"}},
		{"a sub-second timeout is refused", "  kind: webex\n  webex:\n    token: t\n    timeout: 10ms\n", []string{"target.webex.timeout"}},
		{"an unknown key under webex is refused", "  kind: webex\n  webex:\n    token: t\n    tokn: x\n", []string{"target.webex.tokn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWebex(t, tc.target, nil)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			var got []string
			for _, e := range errs.List {
				got = append(got, e.Path)
			}
			if strings.Join(got, ",") != strings.Join(tc.wantPaths, ",") {
				t.Errorf("error paths = %v, want %v (%v)", got, tc.wantPaths, err)
			}
		})
	}
}

func TestWebexSecretsNeverAppearInTheirPrintedForm(t *testing.T) {
	c, err := parseWebex(t, "  kind: webex\n  webex:\n    token: tok-123\n    refresh_token: ref-456\n    client_id: C\n    client_secret: sec-789\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Target.Webex
	for _, s := range []Secret{w.Token, w.RefreshToken, w.ClientSecret} {
		if s.String() != "[redacted]" {
			t.Errorf("secret prints as %q", s.String())
		}
	}
}
