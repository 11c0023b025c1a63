package webex

import (
	"context"
	"strings"
	"testing"
)

func TestDoctorNamesWhatTheTokenLacks(t *testing.T) {
	const day = 24 * 3600
	refresh := func(f *fake, o *Options) {
		f.RefreshToken, f.ClientID, f.ClientSecret, f.ExpiresIn = "ref-0", "cid", "csecret", 14*day
		o.Token, o.RefreshToken, o.ClientID, o.ClientSecret = "", "ref-0", "cid", "csecret"
	}
	tests := []struct {
		name  string
		setup func(f *fake, o *Options)
		// failed names the checks that fail, in order, unknown those
		// that could not be made; detail and fix are what the first
		// failed check says.
		failed, unknown []string
		detail, fix     string
	}{
		{"an administrator's token with every read scope passes, short of what only a write shows", func(*fake, *Options) {}, nil,
			[]string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"}, "", ""},
		{"a refresh token with two months left passes", func(f *fake, o *Options) { refresh(f, o); f.RefreshExpiresIn = 60 * day }, nil,
			[]string{"webex scope spark-admin:people_write (licences)"}, "", ""},
		{"a refresh token that lapses within a week", func(f *fake, o *Options) { refresh(f, o); f.RefreshExpiresIn = 3 * day }, []string{"webex token"},
			[]string{"webex scope spark-admin:people_write (licences)"}, "the refresh token expires on", "authorise the integration again"},
		{"a refresh the service refuses", func(f *fake, o *Options) { refresh(f, o); o.ClientSecret = "wrong-secret" }, []string{"webex token"}, nil,
			"refreshing it was refused", "check client_id and client_secret"},
		{"a revoked token", func(_ *fake, o *Options) { o.Token = "tok-revoked" }, []string{"webex token"}, nil,
			"token rejected", "create a new token"},
		{"an org_id the administrator does not manage", func(_ *fake, o *Options) { o.OrgID = "ORG-OTHER" }, []string{"webex org_id"},
			[]string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"}, "does not manage it: HTTP 404", "leave it out for the token's own (ORG-1)"},
		{"a token without people_read", func(f *fake, _ *Options) { f.Lacks = map[string]bool{"spark-admin:people_read": true} },
			[]string{"webex scope spark-admin:people_read (people)"}, []string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"},
			"not granted: HTTP 403", "add the scope spark-admin:people_read"},
		{"a token without people_write is not said to have it", func(f *fake, _ *Options) { f.Lacks = map[string]bool{"spark-admin:people_write": true} },
			nil, []string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"}, "", ""},
		{"a token without licenses_read", func(f *fake, _ *Options) { f.Lacks = map[string]bool{"spark-admin:licenses_read": true} },
			[]string{"webex scope spark-admin:licenses_read (licences)"}, []string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"},
			"not granted: HTTP 403", "add the scope spark-admin:licenses_read"},
		{"a token without telephony_config_read", func(f *fake, _ *Options) { f.Lacks = map[string]bool{"spark-admin:telephony_config_read": true} },
			[]string{"webex scope spark-admin:telephony_config_read (numbers)", "webex scope spark-admin:telephony_config_read (locations)"},
			[]string{"webex token lifetime", "webex scope spark-admin:people_write (licences)"}, "not granted: HTTP 403", "add the scope spark-admin:telephony_config_read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.Org(3, 5, 10)
			var opt Options
			tt.setup(f, &opt)
			c := f.client(t, opt)
			checks, org := c.Doctor(context.Background())
			var failed, unknown []string
			for _, ch := range checks {
				for _, secret := range []string{"tok-0", "ref-0", "csecret", "wrong-secret", "tok-revoked"} {
					if strings.Contains(ch.Tried+ch.Detail+ch.Fix, secret) {
						t.Errorf("check %q shows a secret: %+v", ch.Name, ch)
					}
				}
				switch {
				case ch.Unverified:
					unknown = append(unknown, ch.Name)
				case !ch.OK:
					failed = append(failed, ch.Name)
				}
			}
			if strings.Join(failed, "|") != strings.Join(tt.failed, "|") || strings.Join(unknown, "|") != strings.Join(tt.unknown, "|") {
				t.Fatalf("failed %q and unknown %q, want %q and %q\n%+v", failed, unknown, tt.failed, tt.unknown, checks)
			}
			if len(tt.failed) > 0 {
				for _, ch := range checks {
					if ch.Name == tt.failed[0] && (!strings.Contains(ch.Detail, tt.detail) || !strings.Contains(ch.Fix, tt.fix)) {
						t.Errorf("%+v\nwant the detail to say %q and the fix %q", ch, tt.detail, tt.fix)
					}
				}
			}
			complete := len(tt.failed) == 0 || tt.failed[0] == "webex org_id" || tt.failed[0] == "webex scope spark-admin:people_read (people)"
			if tt.failed != nil && tt.failed[0] == "webex token" && tt.detail == "the refresh token expires on" {
				complete = true
			}
			switch {
			case complete && (org == nil || len(org.Licences) != 2 || len(org.Locations) != 2 || !org.Locations["L1"].CallingEnabled):
				t.Errorf("organisation %+v, want its 2 licences and 2 Calling locations", org)
			case !complete && org != nil:
				t.Errorf("organisation %+v returned although doctor could not read it whole", org)
			}
			if writes := f.Calls("PATCH", "/licenses/users"); len(writes) > 0 {
				t.Errorf("doctor wrote: %+v", writes)
			}
		})
	}
}
