package licensing

import "testing"

func TestTheSnapshotClearsAFailureOnlyWhenItsBlockerIsGone(t *testing.T) {
	p := testPolicy()
	p.Templates = append(p.Templates, Template{Name: "with meetings", Groups: []string{"Meetings"}, Licences: []LicenceRef{{ID: "PRO"}, {ID: "MTG"}}})
	user := func(phone, group string) DirectoryUser {
		return DirectoryUser{ID: "u1", Email: "ann@corp.example", WorkPhone: phone, Enabled: true, Groups: []string{group}}
	}
	ann := &Person{ID: "P2", Email: "ann@corp.example"}
	heldPro := &Person{ID: "P2", Email: "ann@corp.example", Licences: []string{"PRO"}, PhoneNumber: "+12125550101", LocationID: "L1"}
	setLicence := func(id string, f func(*Licence)) func(*Org) {
		return func(o *Org) { l := o.Licences[id]; f(&l); o.Licences[id] = l }
	}
	setNumber := func(e164 string, f func(*Number)) func(*Org) {
		return func(o *Org) { n, _ := o.Numbers.Get(e164); f(&n); o.Numbers.Set(n) }
	}
	tests := []struct {
		name   string
		user   DirectoryUser
		person *Person
		prep   func(*Org)
		cause  Cause
		change func(*Org)
		want   bool
	}{
		{"a number added to the inventory clears NUMBER_NOT_PROVISIONED", user("+12125550199", "Calling Users"), ann, nil, CauseNumberNotProvisioned,
			func(o *Org) { o.Numbers.Set(Number{E164: "+12125550199", LocationID: "L1"}) }, true},
		{"another number added leaves NUMBER_NOT_PROVISIONED", user("+12125550199", "Calling Users"), ann, nil, CauseNumberNotProvisioned,
			func(o *Org) { o.Numbers.Set(Number{E164: "+12125550198", LocationID: "L1"}) }, false},
		{"a location enabled for Calling clears NUMBER_LOCATION_INVALID", user("+12125550103", "Calling Users"), ann, nil, CauseNumberLocationInvalid,
			func(o *Org) { o.Locations["LAB"] = Location{ID: "LAB", Name: "Lab", CallingEnabled: true} }, true},
		{"a number moved to a calling location clears NUMBER_LOCATION_INVALID", user("+12125550103", "Calling Users"), ann, nil, CauseNumberLocationInvalid,
			setNumber("+12125550103", func(n *Number) { n.LocationID = "L1" }), true},
		{"a workspace releasing the number clears NUMBER_ASSIGNED_TO_OTHER", user("+12125550102", "Calling Users"), ann, nil, CauseNumberAssignedToOther,
			setNumber("+12125550102", func(n *Number) { n.OwnerType, n.OwnerID = "", "" }), true},
		{"the number given to the person clears NUMBER_ASSIGNED_TO_OTHER", user("+12125550105", "Calling Users"), ann, nil, CauseNumberAssignedToOther,
			setNumber("+12125550105", func(n *Number) { n.OwnerID = "P2" }), true},
		{"the same owner keeps NUMBER_ASSIGNED_TO_OTHER", user("+12125550106", "Calling Users"), ann, nil, CauseNumberAssignedToOther,
			setNumber("+12125550106", func(n *Number) { n.Extension = "2000" }), false},
		{"units bought clear LICENCE_UNAVAILABLE", user("+12125550101", "Lobby"), ann, nil, CauseLicenceUnavailable,
			setLicence("FULL", func(l *Licence) { l.TotalUnits = 5 }), true},
		{"a renewed subscription clears LICENCE_UNAVAILABLE", user("+12125550101", "Old"), ann, nil, CauseLicenceUnavailable,
			setLicence("SUSP", func(l *Licence) { l.Status = StatusActive }), true},
		{"a suspended subscription with units still blocks", user("+12125550101", "Old"), ann, nil, CauseLicenceUnavailable,
			setLicence("SUSP", func(l *Licence) { l.TotalUnits = 50 }), false},
		{"a licence the organisation gained clears LICENCE_UNAVAILABLE", user("+12125550101", "Ghost"), ann, nil, CauseLicenceUnavailable,
			func(o *Org) {
				o.Licences["PREM"] = Licence{ID: "PREM", Name: "Webex Calling - Premium", SubscriptionID: "SUB-9", TotalUnits: 1, Status: StatusActive}
			}, true},
		{"units of the missing licence clear it though a licence the person holds is full", user("+12125550101", "Meetings"), heldPro,
			func(o *Org) {
				setLicence("PRO", func(l *Licence) { l.ConsumedUnits = l.TotalUnits })(o)
				setLicence("MTG", func(l *Licence) { l.ConsumedUnits = l.TotalUnits })(o)
			},
			CauseLicenceUnavailable, setLicence("MTG", func(l *Licence) { l.TotalUnits++ }), true},
		{"units of a licence the person holds leave the missing one blocked", user("+12125550101", "Meetings"), heldPro,
			func(o *Org) {
				setLicence("PRO", func(l *Licence) { l.ConsumedUnits = l.TotalUnits })(o)
				setLicence("MTG", func(l *Licence) { l.ConsumedUnits = l.TotalUnits })(o)
			},
			CauseLicenceUnavailable, setLicence("PRO", func(l *Licence) { l.TotalUnits++ }), false},
		{"nothing in the snapshot clears WEBEX_USER_NOT_FOUND", user("+12125550101", "Calling Users"), nil, nil, CauseWebexUserNotFound,
			setNumber("+12125550101", func(n *Number) { n.OwnerID = "" }), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			org := testOrg()
			if tc.prep != nil {
				tc.prep(org)
			}
			s := p.Screen(tc.user)
			d := p.Decide(s, Facts{Person: tc.person, Claimants: 1}, org)
			if d.Outcome != Failed || d.Cause != tc.cause {
				t.Fatalf("decided %s %s (%s), want FAILED %s", d.Outcome, d.Cause, d.Detail, tc.cause)
			}
			if p.SnapshotClears(s, d.Cause, d.Detail, org) {
				t.Fatalf("the unchanged snapshot clears %s (%s)", d.Cause, d.Detail)
			}
			tc.change(org)
			if got := p.SnapshotClears(s, d.Cause, d.Detail+" (failing for 3h12m)", org); got != tc.want {
				t.Fatalf("after the change SnapshotClears = %v, want %v (%s)", got, tc.want, d.Detail)
			}
			if tc.want {
				if again := p.Decide(s, Facts{Person: tc.person, Claimants: 1}, org); again.Outcome == Failed && again.Cause == tc.cause {
					t.Fatalf("cleared, yet deciding again fails the same way: %s", again.Detail)
				}
			}
		})
	}
}

func TestAStoredRecordThePolicyNowDecidesAloneIsDecidedAgain(t *testing.T) {
	p := testPolicy()
	s := p.Screen(DirectoryUser{ID: "u1", Email: "ann@corp.example", WorkPhone: "+12125550199", Enabled: true, Groups: []string{"Sales"}})
	if !p.SnapshotClears(s, CauseNumberNotProvisioned, "+12125550199 is not in the calling number inventory", testOrg()) {
		t.Fatal("a user no template covers any more is not decided again")
	}
}
