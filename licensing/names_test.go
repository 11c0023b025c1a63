package licensing

import "testing"

// The names real organisations show, in the case they show them: "Contact
// center Standard Agent" has a lower-case "center", Calling Standard is
// sold as "Webex Calling - Basic".
func TestLicenceNamesAsOrganisationsShowThemAreReadWhateverTheirCase(t *testing.T) {
	tests := []struct {
		name     string
		calling  bool
		category string
		agent    string
	}{
		{"Webex Calling - Professional", true, CategoryCalling, ""},
		{"Webex Calling - Basic", true, CategoryCalling, ""},
		{"WEBEX CALLING - BASIC", true, CategoryCalling, ""},
		{"Webex Calling - Workspaces", false, CategoryWorkspaceCalling, ""},
		{"webex calling - workspaces", false, CategoryWorkspaceCalling, ""},
		{"Contact Center Premium Agent", false, CategoryContactCenter, AgentPremium},
		{"Contact center Standard Agent", false, CategoryContactCenter, AgentStandard},
		{"contact center standard agent", false, CategoryContactCenter, AgentStandard},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := Licence{Name: tc.name}
			if l.IsCalling() != tc.calling || l.Category() != tc.category || l.AgentKind() != tc.agent || AgentKindOfName(tc.name) != tc.agent {
				t.Errorf("calling %v, category %q, agent %q (by name %q); want %v, %q, %q",
					l.IsCalling(), l.Category(), l.AgentKind(), AgentKindOfName(tc.name), tc.calling, tc.category, tc.agent)
			}
		})
	}
}

func TestATemplateFindsItsLicenceByNameWhateverTheCase(t *testing.T) {
	org := NewOrg()
	org.Licences["CC-STD"] = Licence{ID: "CC-STD", Name: "Contact center Standard Agent", SubscriptionID: "Sub-CC"}
	org.Licences["BASIC"] = Licence{ID: "BASIC", Name: "Webex Calling - Basic", SubscriptionID: "SUB-1"}
	tmpl := &Template{Name: "agents", Licences: []LicenceRef{
		{Name: "webex calling - BASIC", Subscription: "sub-1"},
		{Name: "Contact Center Standard Agent", Subscription: "SUB-CC"},
	}}
	lics, why := ResolveLicences(tmpl, org)
	if why != "" || len(lics) != 2 || lics[0].ID != "BASIC" || lics[1].ID != "CC-STD" {
		t.Fatalf("resolved %+v (%s), want BASIC and CC-STD", lics, why)
	}
}
