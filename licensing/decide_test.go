package licensing

import (
	"strings"
	"testing"
)

func testOrg() *Org {
	o := NewOrg()
	o.Locations["L1"] = Location{ID: "L1", Name: "New York", CallingEnabled: true}
	o.Locations["LAB"] = Location{ID: "LAB", Name: "Lab", CallingEnabled: false}
	o.Numbers["+12125550101"] = Number{E164: "+12125550101", Extension: "1001", LocationID: "L1"}
	o.Numbers["+12125550102"] = Number{E164: "+12125550102", Extension: "1002", LocationID: "L1", OwnerType: OwnerPlace, OwnerID: "WS-1"}
	o.Numbers["+12125550103"] = Number{E164: "+12125550103", LocationID: "LAB"}
	o.Numbers["+12125550104"] = Number{E164: "+12125550104", LocationID: "GONE"}
	o.Numbers["+12125550105"] = Number{E164: "+12125550105", LocationID: "L1", OwnerType: OwnerPeople, OwnerID: "P1"}
	o.Numbers["+12125550106"] = Number{E164: "+12125550106", LocationID: "L1", OwnerType: "HUNT_GROUP", OwnerID: "HG-1"}
	o.Licences["PRO"] = Licence{ID: "PRO", Name: "Webex Calling - Professional", SubscriptionID: "SUB-1", TotalUnits: 10, ConsumedUnits: 1, Status: StatusActive}
	o.Licences["FULL"] = Licence{ID: "FULL", Name: "Webex Calling - Basic", SubscriptionID: "SUB-2", TotalUnits: 1, ConsumedUnits: 1, Status: StatusActive}
	o.Licences["SUSP"] = Licence{ID: "SUSP", Name: "Webex Calling - Professional", SubscriptionID: "SUB-3", TotalUnits: 5, Status: StatusSuspended}
	o.Licences["MTG"] = Licence{ID: "MTG", Name: "Webex Meetings", SubscriptionID: "SUB-1", TotalUnits: 10, Status: StatusActive}
	return o
}

func testPolicy() *Policy {
	return &Policy{
		ConsumerDomains: DefaultConsumerDomains,
		Templates: []Template{
			{Name: "full", Groups: []string{"Lobby"}, Licences: []LicenceRef{{ID: "FULL"}}},
			{Name: "suspended", Groups: []string{"Old"}, Licences: []LicenceRef{{Name: "Webex Calling - Professional", Subscription: "SUB-3"}}},
			{Name: "missing", Groups: []string{"Ghost"}, Licences: []LicenceRef{{Name: "Webex Calling - Premium", Subscription: "SUB-9"}}},
			{Name: "calling", Groups: []string{"Calling Users"}, Licences: []LicenceRef{{Name: "webex calling - professional", Subscription: "sub-1"}}},
		},
	}
}

func TestDecide(t *testing.T) {
	user := func(mod func(*DirectoryUser)) DirectoryUser {
		u := DirectoryUser{ID: "u1", Email: "ann@corp.example", DisplayName: "Ann", WorkPhone: "+1 212 555 0101", Enabled: true, Groups: []string{"Calling Users"}}
		if mod != nil {
			mod(&u)
		}
		return u
	}
	person := &Person{ID: "P1", Email: "ann@corp.example"}
	withCalling := func(num string) *Person {
		return &Person{ID: "P1", Email: "ann@corp.example", Licences: []string{"PRO"}, PhoneNumber: num, LocationID: "L1"}
	}
	tests := []struct {
		name    string
		user    DirectoryUser
		person  *Person
		claims  int
		outcome Outcome
		cause   Cause
		detail  string
	}{
		{"a free number at a calling location is provisioned", user(nil), person, 1, WouldProvision, "", ""},
		{"a disabled account is skipped before anything else", user(func(u *DirectoryUser) { u.Enabled = false; u.WorkPhone = "bad" }), nil, 1, Skipped, CauseDisabled, "disabled"},
		{"a gmail address is a consumer domain", user(func(u *DirectoryUser) { u.Email = "ann@Gmail.com" }), person, 1, Skipped, CauseConsumerDomain, "gmail.com"},
		{"a yahoo country domain matches the wildcard", user(func(u *DirectoryUser) { u.Email = "ann@yahoo.co.uk" }), person, 1, Skipped, CauseConsumerDomain, "yahoo.co.uk"},
		{"a user in no template group is out of scope", user(func(u *DirectoryUser) { u.Groups = []string{"Sales"} }), person, 1, Skipped, CauseOutOfScope, ""},
		{"a group DN matches the template by its CN", user(func(u *DirectoryUser) { u.Groups = []string{"CN=Calling Users,OU=Groups,DC=corp,DC=example"} }), person, 1, WouldProvision, "", ""},
		{"out of scope comes before an empty phone", user(func(u *DirectoryUser) { u.Groups = nil; u.WorkPhone = "" }), person, 1, Skipped, CauseOutOfScope, ""},
		{"an empty phone fails", user(func(u *DirectoryUser) { u.WorkPhone = "  " }), person, 1, Failed, CauseNoWorkPhone, "empty"},
		{"a phone without plus fails as not E.164", user(func(u *DirectoryUser) { u.WorkPhone = "12125550101" }), person, 1, Failed, CauseInvalidE164, "+12125550101"},
		{"an invalid phone fails before the person lookup", user(func(u *DirectoryUser) { u.WorkPhone = "+1 212" }), nil, 1, Failed, CauseInvalidE164, "too short"},
		{"no Webex person fails", user(nil), nil, 1, Failed, CauseWebexUserNotFound, "ann@corp.example"},
		{"a person with Calling on the same number is already provisioned", user(nil), withCalling("+12125550101"), 1, AlreadyProvisioned, "", ""},
		{"a person with Calling on another number is drift", user(nil), withCalling("+12125550199"), 1, Drift, "", "+12125550199"},
		{"already provisioned wins over a claimed-twice number", user(nil), withCalling("+12125550101"), 2, AlreadyProvisioned, "", ""},
		{"a number two users carry is claimed twice", user(nil), person, 2, Failed, CauseNumberClaimedTwice, "2 directory users"},
		{"claimed twice comes before not in inventory", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550199" }), person, 3, Failed, CauseNumberClaimedTwice, "3 directory users"},
		{"a number outside the inventory is not provisioned", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550199" }), person, 1, Failed, CauseNumberNotProvisioned, "+12125550199"},
		{"a number at a location without Calling is invalid", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550103" }), person, 1, Failed, CauseNumberLocationInvalid, "not enabled for Calling"},
		{"a number at a missing location is invalid", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550104" }), person, 1, Failed, CauseNumberLocationInvalid, "does not exist"},
		{"a number owned by a workspace is assigned to other", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550102" }), person, 1, Failed, CauseNumberAssignedToOther, "workspace WS-1"},
		{"a number owned by a hunt group names the owner type", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550106" }), person, 1, Failed, CauseNumberAssignedToOther, "hunt group HG-1"},
		{"a number already owned by this person is provisioned", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550105" }), person, 1, WouldProvision, "", ""},
		{"a number owned by another person is assigned to other", user(func(u *DirectoryUser) { u.WorkPhone = "+12125550105" }), &Person{ID: "P2", Email: "ann@corp.example"}, 1, Failed, CauseNumberAssignedToOther, "user P1"},
		{"a licence with no free unit is unavailable", user(func(u *DirectoryUser) { u.Groups = []string{"Lobby"} }), person, 1, Failed, CauseLicenceUnavailable, "no free units"},
		{"a suspended subscription is unavailable", user(func(u *DirectoryUser) { u.Groups = []string{"Old"} }), person, 1, Failed, CauseLicenceUnavailable, "suspended"},
		{"a template licence the org lacks is unavailable", user(func(u *DirectoryUser) { u.Groups = []string{"Ghost"} }), person, 1, Failed, CauseLicenceUnavailable, "has no licence"},
		{"the first matching template wins", user(func(u *DirectoryUser) { u.Groups = []string{"Calling Users", "Lobby"} }), person, 1, Failed, CauseLicenceUnavailable, "Basic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			org := testOrg()
			d := p.Decide(p.Screen(tc.user), Facts{Person: tc.person, Claimants: tc.claims}, org)
			if d.Outcome != tc.outcome || d.Cause != tc.cause {
				t.Fatalf("got %s/%s (%s), want %s/%s", d.Outcome, d.Cause, d.Detail, tc.outcome, tc.cause)
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Fatalf("detail %q does not mention %q", d.Detail, tc.detail)
			}
			if (d.Change != nil) != (d.Outcome == WouldProvision) {
				t.Fatalf("change %v with outcome %s", d.Change, d.Outcome)
			}
		})
	}
}

func TestDecideBuildsTheChangeFromTheInventory(t *testing.T) {
	p, org := testPolicy(), testOrg()
	u := DirectoryUser{ID: "u1", Email: "Ann@corp.example", WorkPhone: "+1 212 555 0101", Enabled: true, Groups: []string{"calling users"}}
	d := p.Decide(p.Screen(u), Facts{Person: &Person{ID: "P1", Email: "ann@corp.example", Licences: []string{"MTG"}}, Claimants: 1}, org)
	c := d.Change
	if c == nil || c.PersonID != "P1" || c.PhoneNumber != "+12125550101" || c.Extension != "1001" || c.LocationID != "L1" || len(c.Licences) != 1 || c.Licences[0] != "PRO" {
		t.Fatalf("change = %+v", c)
	}
	if d.LocationName != "New York" || d.Template != "calling" {
		t.Fatalf("decision = %+v", d)
	}
}

func TestReserveUsesUpUnitsAndTheNumber(t *testing.T) {
	p, org := testPolicy(), testOrg()
	lic := org.Licences["PRO"]
	lic.TotalUnits = 2
	org.Licences["PRO"] = lic
	u := DirectoryUser{ID: "u1", Email: "a@corp.example", WorkPhone: "+12125550101", Enabled: true, Groups: []string{"Calling Users"}}
	d := p.Decide(p.Screen(u), Facts{Person: &Person{ID: "P1"}, Claimants: 1}, org)
	if d.Change == nil {
		t.Fatalf("first user not provisioned: %+v", d)
	}
	org.Reserve(*d.Change)
	if got := org.Numbers["+12125550101"].OwnerID; got != "P1" {
		t.Fatalf("number owner after reserve = %q", got)
	}
	u2 := DirectoryUser{ID: "u2", Email: "b@corp.example", WorkPhone: "+12125550105", Enabled: true, Groups: []string{"Calling Users"}}
	d2 := p.Decide(p.Screen(u2), Facts{Person: &Person{ID: "P1"}, Claimants: 1}, org)
	if d2.Cause != CauseLicenceUnavailable {
		t.Fatalf("second user after the last unit went: %s/%s", d2.Outcome, d2.Cause)
	}
}

func TestEveryCauseHasAFix(t *testing.T) {
	for _, c := range Causes {
		if c.Fix() == "" {
			t.Errorf("cause %s has no fix text", c)
		}
	}
}
