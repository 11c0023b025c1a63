package licensing

import (
	"strings"
	"testing"
)

func testOrg() *Org {
	o := NewOrg()
	o.Locations["L1"] = Location{ID: "L1", Name: "New York", CallingEnabled: true}
	o.Locations["LAB"] = Location{ID: "LAB", Name: "Lab", CallingEnabled: false}
	o.Numbers.Set(Number{E164: "+12125550101", Extension: "1001", LocationID: "L1"})
	o.Numbers.Set(Number{E164: "+12125550102", Extension: "1002", LocationID: "L1", OwnerType: OwnerPlace, OwnerID: "WS-1"})
	o.Numbers.Set(Number{E164: "+12125550103", LocationID: "LAB"})
	o.Numbers.Set(Number{E164: "+12125550104", LocationID: "GONE"})
	o.Numbers.Set(Number{E164: "+12125550105", LocationID: "L1", OwnerType: OwnerPeople, OwnerID: "P1"})
	o.Numbers.Set(Number{E164: "+12125550106", LocationID: "L1", OwnerType: "HUNT_GROUP", OwnerID: "HG-1"})
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
		{"an unreadable record fails before anything else, even when disabled", user(func(u *DirectoryUser) { u.Enabled = false; u.Unreadable = "line 7: enabled is \"maybe\"" }), person, 1, Failed, CauseUnreadableRecord, "line 7"},
		{"a disabled account is skipped before the other checks", user(func(u *DirectoryUser) { u.Enabled = false; u.WorkPhone = "bad" }), nil, 1, Skipped, CauseDisabled, "disabled"},
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

func TestRecordsSharingAnIDOrAnEmailFailRightAfterAnUnreadableRecord(t *testing.T) {
	user := func(mod func(*DirectoryUser)) DirectoryUser {
		u := DirectoryUser{ID: "u1", Email: "Ann@Corp.example", WorkPhone: "+1 212 555 0101", Enabled: true, Groups: []string{"Calling Users"}}
		if mod != nil {
			mod(&u)
		}
		return u
	}
	person := &Person{ID: "P1", Email: "ann@corp.example"}
	tests := []struct {
		name              string
		user              DirectoryUser
		sameID, sameEmail int
		cause             Cause
		detail            string
	}{
		{"a record alone is provisioned", user(nil), 1, 1, "", ""},
		{"two records with one id both fail", user(nil), 2, 1, CauseDuplicateID, "2 directory records carry id u1"},
		{"records with one email fail naming it in lower case", user(nil), 1, 3, CauseDuplicateEmail, "3 directory records carry email ann@corp.example (compared without case)"},
		{"a shared id is told before a shared email", user(nil), 2, 2, CauseDuplicateID, "id u1"},
		{"an unreadable record fails as such even when it shares its id", user(func(u *DirectoryUser) { u.Unreadable = "line 3: bad" }), 2, 2, CauseUnreadableRecord, "line 3"},
		{"a shared email wins over a disabled account", user(func(u *DirectoryUser) { u.Enabled = false }), 1, 2, CauseDuplicateEmail, "2 directory records"},
		{"a shared id wins over an out-of-scope user", user(func(u *DirectoryUser) { u.Groups = nil }), 2, 1, CauseDuplicateID, "2 directory records"},
		{"a shared id wins over a phone that is not E.164", user(func(u *DirectoryUser) { u.WorkPhone = "555" }), 2, 1, CauseDuplicateID, "2 directory records"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			d := p.Decide(p.Screen(tc.user), Facts{Person: person, Claimants: 1, SameID: tc.sameID, SameEmail: tc.sameEmail}, testOrg())
			if d.Cause != tc.cause || !strings.Contains(d.Detail, tc.detail) {
				t.Fatalf("got %s/%s %q, want %s %q", d.Outcome, d.Cause, d.Detail, tc.cause, tc.detail)
			}
			if tc.cause != "" && (d.Outcome != Failed || d.Change != nil) {
				t.Fatalf("a failed duplicate got outcome %s and change %v", d.Outcome, d.Change)
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
	if got, _ := org.Numbers.Get("+12125550101"); got.OwnerID != "P1" {
		t.Fatalf("number owner after reserve = %q", got.OwnerID)
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

// changeOrg extends testOrg with what moves, replacements and agent licences
// need: a second Calling subscription, two Meetings subscriptions and both
// Contact Center agent kinds.
func changeOrg() *Org {
	o := testOrg()
	o.Licences["PRO-B"] = Licence{ID: "PRO-B", Name: "Webex Calling - Professional", SubscriptionID: "SUB-B", TotalUnits: 5, Status: StatusActive}
	o.Licences["PRO-FULL"] = Licence{ID: "PRO-FULL", Name: "Webex Calling - Professional", SubscriptionID: "SUB-F", TotalUnits: 1, ConsumedUnits: 1, Status: StatusActive}
	o.Licences["MTG-B"] = Licence{ID: "MTG-B", Name: "Webex Meetings", SubscriptionID: "SUB-B", TotalUnits: 5, Status: StatusActive}
	o.Licences["MSG"] = Licence{ID: "MSG", Name: "Webex Messaging", SubscriptionID: "SUB-1", TotalUnits: 5, Status: StatusActive}
	o.Licences["CC-STD"] = Licence{ID: "CC-STD", Name: "Contact Center Standard Agent", SubscriptionID: "SUB-CC", TotalUnits: 5, Status: StatusActive}
	o.Licences["CC-PRM"] = Licence{ID: "CC-PRM", Name: "Contact Center Premium Agent", SubscriptionID: "SUB-CC", TotalUnits: 5, Status: StatusActive}
	o.Licences["CC-FULL"] = Licence{ID: "CC-FULL", Name: "Contact Center Premium Agent", SubscriptionID: "SUB-CC2", TotalUnits: 1, ConsumedUnits: 1, Status: StatusActive}
	return o
}

func TestDecideChangesWhatTheTemplateReplaces(t *testing.T) {
	ref := func(ids ...string) []LicenceRef {
		var out []LicenceRef
		for _, id := range ids {
			out = append(out, LicenceRef{ID: id})
		}
		return out
	}
	fresh := func(lics ...string) *Person {
		return &Person{ID: "P1", Email: "ann@corp.example", Licences: lics}
	}
	calling := func(lics ...string) *Person {
		return &Person{ID: "P1", Email: "ann@corp.example", Licences: lics, PhoneNumber: "+12125550101", LocationID: "L1"}
	}
	tests := []struct {
		name     string
		tmpl     Template
		ack      bool
		person   *Person
		outcome  Outcome
		cause    Cause
		add      string
		remove   string
		detail   string
		keepsNum bool
	}{
		{name: "a template preserving existing licences adds and removes nothing else",
			tmpl: Template{Licences: ref("PRO", "MTG-B")}, person: fresh("MTG"), outcome: WouldProvision, add: "PRO MTG-B"},
		{name: "a template not preserving existing licences removes the same category in the same change",
			tmpl: Template{Licences: ref("PRO", "MTG-B"), ReplaceExisting: true}, person: fresh("MTG", "MSG"), outcome: WouldProvision, add: "PRO MTG-B", remove: "MTG", detail: "removes Webex Meetings [SUB-1]"},
		{name: "a template not preserving existing licences leaves other categories alone",
			tmpl: Template{Licences: ref("PRO"), ReplaceExisting: true}, person: fresh("MTG", "MSG"), outcome: WouldProvision, add: "PRO"},
		{name: "a Calling user whose template points at another subscription moves in one change keeping the number",
			tmpl: Template{Licences: ref("PRO-B")}, person: calling("PRO", "MTG"), outcome: WouldProvision, add: "PRO-B", remove: "PRO", keepsNum: true,
			detail: "moves Calling from Webex Calling - Professional [SUB-1] to Webex Calling - Professional [SUB-B] in one request, keeping +12125550101, extension 1001, location New York"},
		{name: "a move to a subscription without free units is refused and names the licence",
			tmpl: Template{Licences: ref("PRO-FULL")}, person: calling("PRO"), outcome: Failed, cause: CauseLicenceUnavailable, detail: "(subscription SUB-F) has no free units"},
		{name: "a Calling user lacking a template licence gets it added without a removal",
			tmpl: Template{Licences: ref("PRO", "CC-STD")}, person: calling("PRO"), outcome: WouldProvision, add: "CC-STD", keepsNum: true, detail: "adds Contact Center Standard Agent [SUB-CC]"},
		{name: "a Calling user holding the whole template is already provisioned",
			tmpl: Template{Licences: ref("PRO", "CC-STD")}, person: calling("PRO", "CC-STD"), outcome: AlreadyProvisioned},
		{name: "a person without Calling who holds the whole of a template that carries no Calling licence is already provisioned",
			tmpl: Template{Licences: ref("CC-STD")}, person: fresh("CC-STD"), outcome: AlreadyProvisioned},
		{name: "a template whose Contact Center licence has no unit applies none of its licences and says which was missing",
			tmpl: Template{Licences: ref("PRO", "CC-FULL")}, person: fresh(), outcome: Failed, cause: CauseLicenceUnavailable, detail: "Contact Center Premium Agent (subscription SUB-CC2) has no free units: 1 of 1 used; none of template"},
		{name: "a user holding the other agent kind fails when removals are not acknowledged",
			tmpl: Template{Licences: ref("PRO", "CC-STD")}, person: fresh("CC-PRM"), outcome: Failed, cause: CauseAgentLicenceConflict, detail: "needs removals.acknowledge: true"},
		{name: "a user holding the other agent kind gets it swapped in one change when removals are acknowledged",
			tmpl: Template{Licences: ref("PRO", "CC-STD")}, ack: true, person: fresh("CC-PRM"), outcome: WouldProvision, add: "PRO CC-STD", remove: "CC-PRM"},
		{name: "a template carrying both agent kinds is refused for every user",
			tmpl: Template{Licences: ref("PRO", "CC-STD", "CC-PRM")}, ack: true, person: fresh(), outcome: Failed, cause: CauseAgentLicenceConflict, detail: "carries both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.tmpl.Name = "t"
			p := &Policy{Templates: []Template{tc.tmpl}, Removals: Removals{Acknowledge: tc.ack, MaxFraction: 1}}
			u := DirectoryUser{ID: "u1", Email: "ann@corp.example", WorkPhone: "+12125550101", Enabled: true}
			d := p.Decide(p.Screen(u), Facts{Person: tc.person, Claimants: 1}, changeOrg())
			if d.Outcome != tc.outcome || d.Cause != tc.cause {
				t.Fatalf("got %s/%s (%s), want %s/%s", d.Outcome, d.Cause, d.Detail, tc.outcome, tc.cause)
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Fatalf("detail %q does not say %q", d.Detail, tc.detail)
			}
			if tc.outcome != WouldProvision {
				if d.Change != nil {
					t.Fatalf("a %s decision carries a change %+v", d.Outcome, d.Change)
				}
				return
			}
			c := d.Change
			if got := strings.Join(c.Licences, " "); got != tc.add {
				t.Errorf("adds %q, want %q", got, tc.add)
			}
			if got := strings.Join(c.Remove, " "); got != tc.remove {
				t.Errorf("removes %q, want %q", got, tc.remove)
			}
			if tc.keepsNum && (c.PhoneNumber != "+12125550101" || c.LocationID != "L1" || c.Extension != "1001") {
				t.Errorf("the change does not keep number, location and extension: %+v", c)
			}
		})
	}
}

func TestReserveFreesTheUnitsAChangeRemoves(t *testing.T) {
	org := changeOrg()
	org.Reserve(Change{PersonID: "P1", Licences: []string{"PRO-B"}, Remove: []string{"PRO"}})
	if org.Licences["PRO"].ConsumedUnits != 0 || org.Licences["PRO-B"].ConsumedUnits != 1 {
		t.Fatalf("units after a move: PRO %d, PRO-B %d; want 0 and 1", org.Licences["PRO"].ConsumedUnits, org.Licences["PRO-B"].ConsumedUnits)
	}
}

func TestRemovalsAreAllowedOnlyWhenAcknowledgedAndUnderTheFraction(t *testing.T) {
	tests := []struct {
		name            string
		r               Removals
		removing, users int
		want            string
	}{
		{"no removal needs no acknowledgement", Removals{}, 0, 100, ""},
		{"a removal without acknowledgement is refused and names the setting", Removals{MaxFraction: 1}, 1, 100, "removals.acknowledge is false"},
		{"a removal share over the fraction is refused with the count", Removals{Acknowledge: true, MaxFraction: 0.05}, 6, 100, "from 6 of 100 users (6.0%), over removals.max_fraction 0.05"},
		{"a removal share at the fraction is allowed", Removals{Acknowledge: true, MaxFraction: 0.05}, 5, 100, ""},
		{"a fraction of 0 refuses a single removal and says it allows none", Removals{Acknowledge: true, MaxFraction: 0}, 1, 100000, "removals.max_fraction is 0, which allows no removal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Allow(tc.removing, tc.users)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Allow = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLicenceCategoriesAndAgentKindsComeFromTheName(t *testing.T) {
	tests := []struct{ name, category, agent string }{
		{"Webex Calling - Professional", CategoryCalling, ""},
		{"Webex Calling - Workspaces", CategoryWorkspaceCalling, ""},
		{"Webex Contact Center Premium Agent", CategoryContactCenter, AgentPremium},
		{"Contact Center Standard Agent", CategoryContactCenter, AgentStandard},
		{"Meetings 200", CategoryMeetings, ""},
		{"Webex Messaging", CategoryMessaging, ""},
		{"Webinars 1000", "webinars 1000", ""},
	}
	for _, tc := range tests {
		l := Licence{Name: tc.name}
		if l.Category() != tc.category || l.AgentKind() != tc.agent {
			t.Errorf("%s: category %q agent %q, want %q %q", tc.name, l.Category(), l.AgentKind(), tc.category, tc.agent)
		}
	}
}

func TestPlanMovePairsLicencesAndRefusesWhatCannotMove(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{"a subscription move pairs licences of the same name", "SUB-1", "SUB-B", ""},
		{"a subscription without Calling cannot be moved from", "SUB-CC", "SUB-B", "subscription SUB-CC has no Calling licence"},
		{"a target subscription without the same licence is refused", "SUB-2", "SUB-B", `subscription SUB-B has no "Webex Calling - Basic"`},
		{"a suspended target subscription is refused", "SUB-1", "SUB-3", "is suspended"},
		{"a move onto the same subscription is refused", "SUB-1", "sub-1", "both SUB-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := PlanMove(changeOrg(), tc.from, tc.to, false)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || m.Pairs["PRO"].ID != "PRO-B" || strings.Join(m.OldLicences(), " ") != "PRO" {
				t.Fatalf("plan = %+v, %v", m, err)
			}
		})
	}
}

func TestAMoveKeepsTheNumberAndNeedsUnitsForEveryone(t *testing.T) {
	org := changeOrg()
	m, err := PlanMove(org, "SUB-1", "SUB-B", false)
	if err != nil {
		t.Fatal(err)
	}
	ann := Person{ID: "P1", Email: "ann@corp.example", Licences: []string{"MTG", "PRO"}, PhoneNumber: "+12125550101", LocationID: "L1"}
	c, detail, ok := m.Move(ann, org)
	if !ok || strings.Join(c.Licences, ",") != "PRO-B" || strings.Join(c.Remove, ",") != "PRO" || c.PhoneNumber != "+12125550101" || c.Extension != "1001" || c.LocationID != "L1" {
		t.Fatalf("move = %+v, %v", c, ok)
	}
	if !strings.Contains(detail, "keeping +12125550101, extension 1001, location New York") {
		t.Fatalf("detail = %q", detail)
	}
	if _, _, ok := m.Move(Person{ID: "P2", Licences: []string{"MTG"}}, org); ok {
		t.Fatal("a person without the old Calling licence has a move")
	}
	five := []Change{c, c, c, c, c}
	if err := m.CheckUnits(five, nil, org); err != nil {
		t.Fatalf("five moves onto five free units: %v", err)
	}
	if err := m.CheckUnits(append(five, c), nil, org); err == nil || !strings.Contains(err.Error(), "has 5 free units and the move needs 6; nothing was moved") {
		t.Fatalf("six moves onto five units: %v", err)
	}
}

func TestAWorkspaceMovesItsCallingLicenceKeepingItsNumber(t *testing.T) {
	org := changeOrg()
	org.Licences["WS-A"] = Licence{ID: "WS-A", Name: "Webex Calling - Workspaces", SubscriptionID: "SUB-1", TotalUnits: 5, ConsumedUnits: 1, Status: StatusActive}
	org.Licences["WS-B"] = Licence{ID: "WS-B", Name: "Webex Calling - Workspaces", SubscriptionID: "SUB-B", TotalUnits: 1, Status: StatusActive}
	if m, err := PlanMove(org, "SUB-1", "SUB-B", false); err != nil || len(m.Pairs) != 1 {
		t.Fatalf("without workspaces the plan pairs %v, %v; want the user licence only", m, err)
	}
	m, err := PlanMove(org, "SUB-1", "SUB-B", true)
	if err != nil || m.Pairs["WS-A"].ID != "WS-B" {
		t.Fatalf("plan = %+v, %v", m, err)
	}
	lobby := Workspace{ID: "WS-1", Name: "Lobby", Licences: []string{"WS-A"}, PhoneNumber: "+12125550102", LocationID: "L1"}
	c, detail, ok := m.MoveWorkspace(lobby, org)
	if !ok || c.WorkspaceID != "WS-1" || strings.Join(c.Licences, ",") != "WS-B" || strings.Join(c.Remove, ",") != "WS-A" || c.Extension != "1002" || c.PhoneNumber != "+12125550102" {
		t.Fatalf("workspace move = %+v", c)
	}
	if !strings.Contains(detail, "moves Calling from Webex Calling - Workspaces [SUB-1] to Webex Calling - Workspaces [SUB-B] in one request, keeping +12125550102, extension 1002") {
		t.Fatalf("detail = %q", detail)
	}
	if err := m.CheckUnits(nil, []WorkspaceChange{c, c}, org); err == nil || !strings.Contains(err.Error(), "has 1 free units and the move needs 2") {
		t.Fatalf("two workspaces onto one unit: %v", err)
	}
}
