package licensing

import (
	"strings"
	"testing"
)

// states writes a check list as one letter per rule: P passed, F failed,
// . not reached, n not needed.
func states(cs []Check) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteByte(map[CheckState]byte{CheckPassed: 'P', CheckFailed: 'F', CheckNotReached: '.', CheckNotNeeded: 'n'}[c.State])
	}
	return b.String()
}

func TestChecksShowEachRuleInOrderAsPassedOrFailed(t *testing.T) {
	user := func(mod func(*DirectoryUser)) DirectoryUser {
		u := DirectoryUser{ID: "u1", Email: "ann@corp.example", WorkPhone: "+1 212 555 0101", Enabled: true, Groups: []string{"Calling Users"}}
		if mod != nil {
			mod(&u)
		}
		return u
	}
	person := &Person{ID: "P1", Email: "ann@corp.example"}
	withCalling := func(num string, lics ...string) *Person {
		return &Person{ID: "P1", Email: "ann@corp.example", Licences: lics, PhoneNumber: num, LocationID: "L1"}
	}
	tests := []struct {
		name   string
		user   DirectoryUser
		facts  Facts
		want   string
		failed Cause
	}{
		{"a user who gets Calling passes every rule", user(nil), Facts{Person: person, Claimants: 1}, "PPPPPPPPPPPPPPP", ""},
		{"an unreadable record fails the first rule and reaches no other", user(func(u *DirectoryUser) { u.Unreadable = "line 3: bad" }), Facts{Person: person, Claimants: 1}, "F..............", CauseUnreadableRecord},
		{"a shared email fails the third rule", user(nil), Facts{Person: person, Claimants: 1, SameEmail: 2}, "PPF............", CauseDuplicateEmail},
		{"a disabled account stops at the fourth rule", user(func(u *DirectoryUser) { u.Enabled = false }), Facts{Person: person, Claimants: 1}, "PPPF...........", CauseDisabled},
		{"a phone without plus fails the E.164 rule", user(func(u *DirectoryUser) { u.WorkPhone = "2125550101" }), Facts{Person: person, Claimants: 1}, "PPPPPPPF.......", CauseInvalidE164},
		{"no Webex person fails the person rule", user(nil), Facts{Claimants: 1}, "PPPPPPPPF......", CauseWebexUserNotFound},
		{"a person with Calling on the number stops at the Calling rule", user(nil), Facts{Person: withCalling("+12125550101", "PRO"), Claimants: 1}, "PPPPPPPPPFnnnn.", ""},
		{"a person with Calling on another number stops at the Calling rule", user(nil), Facts{Person: withCalling("+12125550199", "PRO"), Claimants: 1}, "PPPPPPPPPFnnnn.", ""},
		{"a number claimed twice fails after the Calling rule passed", user(nil), Facts{Person: person, Claimants: 2}, "PPPPPPPPPPF....", CauseNumberClaimedTwice},
		{"a number owned by a workspace fails the owner rule", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550102" }), Facts{Person: person, Claimants: 1}, "PPPPPPPPPPPPPF.", CauseNumberAssignedToOther},
		{"a licence with no free unit fails the last rule", user(func(u *DirectoryUser) { u.Groups = []string{"Lobby"} }), Facts{Person: person, Claimants: 1}, "PPPPPPPPPPPPPPF", CauseLicenceUnavailable},
		{"a person with Calling whose template has no free unit fails the licence rule, the number rules not needed", user(func(u *DirectoryUser) { u.Groups = []string{"Lobby"} }),
			Facts{Person: withCalling("+12125550101", "PRO"), Claimants: 1}, "PPPPPPPPPFnnnnF", CauseLicenceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			org := testOrg()
			d := p.Decide(p.Screen(tc.user), tc.facts, org)
			got := Checks(tc.facts, org, d)
			if len(got) != len(checkRules) || states(got) != tc.want {
				t.Fatalf("decision %s/%s (%s): checks %s, want %s", d.Outcome, d.Cause, d.Detail, states(got), tc.want)
			}
			var failed *Check
			for i := range got {
				if got[i].State == CheckFailed && (got[i].Detail != "" || failed == nil) {
					failed = &got[i]
				}
			}
			if tc.failed != "" && (failed == nil || failed.Cause != tc.failed || failed.Detail != d.Detail) {
				t.Fatalf("the failed check is %+v, want cause %s with the decision's detail %q", failed, tc.failed, d.Detail)
			}
		})
	}
}
