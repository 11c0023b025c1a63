package controlhub

import (
	"fmt"
	"slices"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// Reported is one WOULD_PROVISION line of a plan's report, as far as the
// bulk export needs it.
type Reported struct {
	SourceID    string
	Email       string
	DisplayName string
	WorkPhone   string
	E164        string
	Detail      string
	// Licences are the template's licence ids the report lists.
	Licences []string
}

// Replan recovers the change a plan decided for one user from the plan's
// report line, the person as the target has them and a fresh snapshot of
// the organisation. The report carries the decision but not the change's
// licences to add and to remove, so the decision is taken again with the
// same policy, and accepted only when it is the same one: a WOULD_PROVISION
// for the same licences with the same detail. Any difference means the
// organisation changed since the plan, and the error says to plan again.
// org is read, never changed.
func Replan(p *licensing.Policy, org *licensing.Org, r Reported, person *licensing.Person) (Planned, error) {
	if person == nil {
		return Planned{}, fmt.Errorf("%s: the target has no Webex person with this email any more; run the plan again", r.Email)
	}
	want := slices.Clone(r.Licences)
	slices.Sort(want)
	for i := range p.Templates {
		lics, why := licensing.ResolveLicences(&p.Templates[i], org)
		if why != "" || !sameIDs(lics, want) {
			continue
		}
		s := licensing.Screened{
			User:     licensing.DirectoryUser{ID: r.SourceID, Email: r.Email, DisplayName: r.DisplayName, WorkPhone: r.WorkPhone, Enabled: true},
			E164:     r.E164,
			Template: i,
		}
		// A planned user passed the claimed-twice check: one claimant.
		d := p.Decide(s, licensing.Facts{Person: person, Claimants: 1}, org)
		if d.Outcome != licensing.WouldProvision || d.Change == nil || !sameDetail(d.Detail, r.Detail) {
			continue
		}
		return Planned{Change: *d.Change, LocationName: d.LocationName, Holds: slices.Clone(person.Licences)}, nil
	}
	return Planned{}, fmt.Errorf("%s: deciding again does not give the plan's change (licences %s, %q); the organisation or the person changed since the plan: run the plan again",
		r.Email, strings.Join(r.Licences, ";"), r.Detail)
}

func sameIDs(lics []licensing.Licence, sorted []string) bool {
	if len(lics) != len(sorted) {
		return false
	}
	got := make([]string, len(lics))
	for i, l := range lics {
		got[i] = l.ID
	}
	slices.Sort(got)
	return slices.Equal(got, sorted)
}

// sameDetail compares a decision's detail with the report's, which may
// carry a note the pass appended in parentheses (why run would refuse).
func sameDetail(decided, reported string) bool {
	return decided == reported || strings.HasPrefix(reported, decided+" (")
}
