package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Sections that satisfy each source and target, to which a test adds one
// setting.
const (
	zeroFile  = "source: {kind: file, file: {path: users.csv}}\n"
	zeroLDAP  = "source:\n  kind: ldap\n  ldap:\n    url: ldaps://dc1.example.com\n    base_dn: DC=example,DC=com\n    dialect: ad\n"
	zeroGraph = "source:\n  kind: graph\n  graph:\n    tenant_id: contoso.onmicrosoft.com\n    client_id: c\n    client_secret: s\n"
	zeroOkta  = "source:\n  kind: okta\n  okta:\n    org_url: https://example.okta.com\n    token: t\n"
	zeroWebex = "target:\n  kind: webex\n  webex:\n    token: t\n"
)

func parseZero(t *testing.T, y string) (*Config, error) {
	t.Helper()
	return Parse(t.TempDir()+"/licensync.yaml", []byte(y+ldapTemplates), env(map[string]string{"ZERO": "0"}))
}

func TestAnExplicitZeroIsKeptWhereItMeansSomethingAndTheDefaultOnlyFillsAnAbsentKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(c *Config) bool
	}{
		{"an absent max_fraction is 0.05", zeroFile,
			func(c *Config) bool { return c.Removals.MaxFraction == 0.05 }},
		{"max_fraction 0 stays 0", zeroFile + "removals: {acknowledge: true, max_fraction: 0}\n",
			func(c *Config) bool { return c.Removals.MaxFraction == 0 && c.Policy().Removals.MaxFraction == 0 }},
		{"max_fraction 0.0 stays 0", zeroFile + "removals: {acknowledge: true, max_fraction: 0.0}\n",
			func(c *Config) bool { return c.Removals.MaxFraction == 0 }},
		{"a max_fraction key without a value is absent", zeroFile + "removals: {acknowledge: true, max_fraction: }\n",
			func(c *Config) bool { return c.Removals.MaxFraction == 0.05 }},
		{"max_fraction 0 from the environment stays 0", zeroFile + "removals: {max_fraction: \"${ZERO}\"}\n",
			func(c *Config) bool { return c.Removals.MaxFraction == 0 }},
		{"incremental_every 0s turns incremental passes off", zeroFile + "daemon: {incremental_every: 0s}\n",
			func(c *Config) bool { return c.Daemon.Every() == 0 }},
		{"an absent batch_size is 500", zeroFile,
			func(c *Config) bool { return c.Apply.BatchSize == 500 }},
		{"absent webex rate, concurrency and timeout take 10, 4 and 30s", zeroFile + zeroWebex,
			func(c *Config) bool {
				w := c.Target.Webex
				return w.Rate == 10 && w.Concurrency == 4 && w.Timeout.D() == 30*time.Second
			}},
		{"an absent keep_runs is 90", zeroFile,
			func(c *Config) bool { return c.Daemon.KeepRuns == 90 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseZero(t, tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("removals %+v, apply %+v, daemon %+v, webex %+v", c.Removals, c.Apply, c.Daemon, c.Target.Webex)
			}
		})
	}
}

func TestAMaxFractionOfZeroRefusesEveryRemoval(t *testing.T) {
	c, err := parseZero(t, zeroFile+"removals: {acknowledge: true, max_fraction: 0}\n")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Policy().Removals.Allow(1, 100000)
	if err == nil || !strings.Contains(err.Error(), "removals.max_fraction is 0") {
		t.Fatalf("one removal in 100000 users with max_fraction 0: %v, want it refused", err)
	}
}

func TestAnExplicitZeroIsRefusedWhereItMeansNothing(t *testing.T) {
	tests := []struct {
		name, yaml, path string
	}{
		{"a batch size of 0 is refused", zeroFile + "apply: {batch_size: 0}\n", "apply.batch_size"},
		{"a keep_runs of 0 is refused", zeroFile + "daemon: {keep_runs: 0}\n", "daemon.keep_runs"},
		{"a webex rate of 0 is refused", zeroFile + zeroWebex + "    rate: 0\n", "target.webex.rate"},
		{"a webex concurrency of 0 is refused", zeroFile + zeroWebex + "    concurrency: 0\n", "target.webex.concurrency"},
		{"a webex timeout of 0s is refused", zeroFile + zeroWebex + "    timeout: 0s\n", "target.webex.timeout"},
		{"an LDAP page size of 0 is refused", zeroLDAP + "    page_size: 0\n", "source.ldap.page_size"},
		{"an LDAP timeout of 0s is refused", zeroLDAP + "    timeout: 0s\n", "source.ldap.timeout"},
		{"a Graph page size of 0 is refused", zeroGraph + "    page_size: 0\n", "source.graph.page_size"},
		{"a Graph timeout of 0s is refused", zeroGraph + "    timeout: 0s\n", "source.graph.timeout"},
		{"an Okta page size of 0 is refused", zeroOkta + "    page_size: 0\n", "source.okta.page_size"},
		{"an Okta timeout of 0s is refused", zeroOkta + "    timeout: 0s\n", "source.okta.timeout"},
		{"an Okta overlap of 0s is refused", zeroOkta + "    overlap: 0s\n", "source.okta.overlap"},
		{"a negative Okta page size is refused", zeroOkta + "    page_size: -5\n", "source.okta.page_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseZero(t, tc.yaml)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			if len(errs.List) != 1 || errs.List[0].Path != tc.path || !strings.Contains(errs.List[0].Msg, "leave it out for") {
				t.Errorf("errors = %v, want exactly one at %s saying what leaving it out gives", errs.List, tc.path)
			}
		})
	}
}
