package graph

import (
	"context"
	"strings"
	"testing"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
)

func TestDoctorNamesWhatTheAppRegistrationLacks(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fake, c *config.GraphSource)
		groups []string
		// failed names the checks that fail, in order; detail and fix are
		// what the first says.
		failed      []string
		detail, fix string
	}{
		{"an app with both permissions passes", func(*fake, *config.GraphSource) {}, []string{"Calling Users", callingID}, nil, "", ""},
		{"a wrong client secret", func(_ *fake, c *config.GraphSource) { c.ClientSecret = "Wr0ng~secret.Value" }, nil,
			[]string{"graph token"}, "AADSTS7000215: Invalid client secret provided", "check client_secret (it must be the secret's Value, not its Secret ID)"},
		{"an app not registered in the tenant", func(_ *fake, c *config.GraphSource) { c.ClientID = "99999999-2222-3333-4444-555555555555" }, nil,
			[]string{"graph token"}, "AADSTS700016: Application with identifier", "no application with client_id 99999999-2222-3333-4444-555555555555 is registered"},
		{"a tenant that does not exist", func(_ *fake, c *config.GraphSource) { c.TenantID = "nowhere.onmicrosoft.com" }, nil,
			[]string{"graph token"}, "AADSTS90002: Tenant 'nowhere.onmicrosoft.com' not found", `tenant "nowhere.onmicrosoft.com" was not found`},
		{"a token without User.Read.All", func(f *fake, _ *config.GraphSource) { f.lacks = "User.Read.All" }, []string{"Calling Users"},
			[]string{"graph User.Read.All", "graph delta /users/delta()"}, "User.Read.All not granted (HTTP 403 Authorization_RequestDenied", "application permission User.Read.All and grant admin consent"},
		{"a token without GroupMember.Read.All", func(f *fake, _ *config.GraphSource) { f.lacks = "GroupMember.Read.All" }, []string{"Calling Users"},
			[]string{"graph GroupMember.Read.All", "graph delta /groups/delta()"}, "GroupMember.Read.All not granted", "application permission GroupMember.Read.All"},
		{"a template group the tenant lacks", func(*fake, *config.GraphSource) {}, []string{"Calling Users", "Retired Phones"},
			[]string{`graph template group "Retired Phones"`}, "the tenant has no such group", "display name or object id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := smallDirectory(t)
			cfg := f.config()
			tt.setup(f, &cfg)
			checks := Doctor(context.Background(), cfg, tt.groups)
			var failed []string
			for _, c := range checks {
				if strings.Contains(c.Tried+c.Detail+c.Fix, fakeSecret) || strings.Contains(c.Tried+c.Detail+c.Fix, "Wr0ng~secret") {
					t.Errorf("check %q shows the secret: %+v", c.Name, c)
				}
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", failed, tt.failed, checks)
			}
			if len(tt.failed) == 0 {
				want := []string{"graph token", "graph User.Read.All", `graph template group "Calling Users"`, `graph template group "` + callingID + `"`,
					"graph GroupMember.Read.All", "graph delta /users/delta()", "graph delta /groups/delta()"}
				if got := names(checks); strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("checks %q, want %q", got, want)
				}
				return
			}
			c := checks[indexOf(checks, tt.failed[0])]
			if !strings.Contains(c.Detail, tt.detail) || !strings.Contains(c.Fix, tt.fix) {
				t.Errorf("%+v\nwant the detail to say %q and the fix %q", c, tt.detail, tt.fix)
			}
		})
	}
}

func names(checks []doctor.Check) []string {
	out := make([]string, len(checks))
	for i, c := range checks {
		out[i] = c.Name
	}
	return out
}

func indexOf(checks []doctor.Check, name string) int {
	for i, c := range checks {
		if c.Name == name {
			return i
		}
	}
	return -1
}
