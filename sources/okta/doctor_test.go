package okta

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
)

func TestDoctorNamesWhatTheTokenLacks(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fakeOkta, c *config.OktaSource)
		groups []string
		// failed names the checks that fail, in order; detail and fix are
		// what the first says.
		failed      []string
		detail, fix string
	}{
		{"a token that reads users and groups passes", func(*fakeOkta, *config.OktaSource) {}, []string{"Calling Users", "00gcalling"}, nil, "", ""},
		{"a revoked token", func(_ *fakeOkta, c *config.OktaSource) { c.Token = "00REVOKEDtoken-xyz" }, nil,
			[]string{"okta token"}, "the organisation rejected the credentials (401 E0000011", "create a new API token"},
		{"a token whose admin may not read users", func(f *fakeOkta, _ *config.OktaSource) { f.forbid = "/api/v1/users" }, nil,
			[]string{"okta users read"}, "permission denied (403 E0000006", "Read-only Administrator role"},
		{"a token whose admin may not read groups", func(f *fakeOkta, _ *config.OktaSource) { f.forbid = "/api/v1/groups" }, []string{"Calling Users"},
			[]string{"okta groups read"}, "permission denied (403 E0000006", "Read-only Administrator role"},
		{"a template group the organisation lacks", func(*fakeOkta, *config.OktaSource) {}, []string{"Retired Phones"},
			[]string{`okta group "Retired Phones"`}, "no such group", "name the group by its name or id"},
		{"a scope group the organisation lacks", func(_ *fakeOkta, c *config.OktaSource) { c.Groups = []string{"Contractors"} }, nil,
			[]string{`okta group "Contractors"`}, "no such group", "name the group by its name or id"},
		{"another client using up the users endpoint's limit", func(f *fakeOkta, _ *config.OktaSource) {
			bucket := bucketOf("/api/v1/users")
			f.limit, f.win[bucket], f.used[bucket] = 100, f.clock.Now().Truncate(time.Minute), 90
		}, nil, []string{"okta rate limit /api/v1/users"}, "9 of 100 requests left in this window, under the 20%", "Rate Limits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOkta(t, newFakeClock(), testToken)
			populate(f, 3)
			cfg := config.OktaSource{OrgURL: f.URL(), Token: config.Secret(f.token)}
			tt.setup(f, &cfg)
			s, err := open(context.Background(), cfg, Options{TemplateGroups: tt.groups}, http.DefaultTransport.(*http.Transport).Clone(), f.clock)
			must(t, err)
			defer s.Close()
			checks := s.doctor(context.Background())
			var failed []string
			for _, c := range checks {
				if strings.Contains(c.Tried+c.Detail+c.Fix, testToken) || strings.Contains(c.Tried+c.Detail+c.Fix, "00REVOKED") {
					t.Errorf("check %q shows the token: %+v", c.Name, c)
				}
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", failed, tt.failed, checks)
			}
			if len(tt.failed) == 0 {
				var got []string
				for _, c := range checks {
					got = append(got, c.Name+": "+c.Detail)
				}
				want := []string{"okta token: accepted", "okta users read: granted", "okta rate limit /api/v1/users: 599 of 600 requests left in this window",
					"okta groups read: granted: 1 group(s)", `okta group "Calling Users": found: 00gcalling`, `okta group "00gcalling": found: 00gcalling`}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("checks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				return
			}
			for _, c := range checks {
				if c.Name == tt.failed[0] && (!strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix)) {
					t.Errorf("%+v\nwant the detail to say %q and the fix %q", c, tt.detail, tt.fix)
				}
			}
		})
	}
}
