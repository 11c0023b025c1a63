package controlhub

import (
	"slices"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// reported is what a pass's report says of a decision.
func reported(s scenario, d licensing.Decision) Reported {
	return Reported{SourceID: s.user.ID, Email: s.user.Email, DisplayName: s.user.DisplayName, WorkPhone: s.user.WorkPhone,
		E164: d.E164, Detail: d.Detail, Licences: d.Licences}
}

func TestExportReplanRecoversThePlannedChangeFromTheReport(t *testing.T) {
	p := testPolicy()
	planned, ds := plan(t, p, testOrg())
	for i, s := range scenarios() {
		t.Run(s.user.Email, func(t *testing.T) {
			r := reported(s, ds[i])
			if i == 3 {
				// A plan over the removal threshold adds why run would refuse.
				r.Detail += " (run would refuse: removals.acknowledge is false)"
			}
			person := s.person
			got, err := Replan(p, testOrg(), r, &person)
			if err != nil {
				t.Fatal(err)
			}
			want := planned[i]
			if !slices.Equal(got.Change.Licences, want.Change.Licences) || !slices.Equal(got.Change.Remove, want.Change.Remove) ||
				got.Change.PhoneNumber != want.Change.PhoneNumber || got.Change.Extension != want.Change.Extension ||
				got.LocationName != want.LocationName || !slices.Equal(got.Holds, want.Holds) {
				t.Fatalf("replanned %+v\nwant      %+v", got, want)
			}
		})
	}
}

func TestExportReplanRefusesWhenTheOrganisationChangedSinceThePlan(t *testing.T) {
	p := testPolicy()
	_, ds := plan(t, p, testOrg())
	s := scenarios()[0]
	full := testOrg()
	l := full.Licences["LIC-PRO"]
	l.ConsumedUnits = l.TotalUnits
	full.Licences["LIC-PRO"] = l
	otherTemplate := reported(s, ds[0])
	otherTemplate.Licences = []string{"LIC-MTG"}
	tests := []struct {
		name   string
		org    *licensing.Org
		r      Reported
		person *licensing.Person
		want   string
	}{
		{"the subscription ran out of units", full, reported(s, ds[0]), &s.person, "run the plan again"},
		{"the report names licences no template gives", testOrg(), otherTemplate, &s.person, "run the plan again"},
		{"the person is gone", testOrg(), reported(s, ds[0]), nil, "no Webex person with this email any more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Replan(p, tc.org, tc.r, tc.person)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), s.user.Email) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, s.user.Email, tc.want)
			}
		})
	}
}
