package licensing

import (
	"fmt"
	"strings"
)

// Facts are what the pass learned about a screened user from the target and
// from the rest of the directory.
type Facts struct {
	// Person is the Webex person with the user's email, nil when none exists.
	Person *Person
	// Claimants is how many directory users carry the user's number
	// (the user included).
	Claimants int
}

// Decide finishes the checks that Screen began, in the design's order, and
// returns the one decision for the user. It reads org and never changes it;
// the pass calls Org.Reserve for each WOULD_PROVISION it acts on.
func (p *Policy) Decide(s Screened, f Facts, org *Org) Decision {
	if s.Early != nil {
		return *s.Early
	}
	tmpl := &p.Templates[s.Template]
	d := Decision{E164: s.E164, Template: tmpl.Name}
	fail := func(c Cause, format string, args ...any) Decision {
		d.Outcome, d.Cause, d.Detail = Failed, c, fmt.Sprintf(format, args...)
		return d
	}
	if f.Person == nil {
		return fail(CauseWebexUserNotFound, "no Webex person has the email %s", s.User.Email)
	}
	if org.HasCalling(f.Person) {
		d.Licences = f.Person.Licences
		d.LocationID = f.Person.LocationID
		d.LocationName = org.Locations[f.Person.LocationID].Name
		if f.Person.PhoneNumber == s.E164 {
			d.Outcome = AlreadyProvisioned
			return d
		}
		d.Outcome, d.Cause = Drift, ""
		if f.Person.PhoneNumber == "" {
			d.Detail = fmt.Sprintf("the person has Calling with no number; the directory says %s (not changed: fix one side)", s.E164)
		} else {
			d.Detail = fmt.Sprintf("the person has Calling on %s; the directory says %s (not changed: fix one side)", f.Person.PhoneNumber, s.E164)
		}
		return d
	}
	if f.Claimants > 1 {
		return fail(CauseNumberClaimedTwice, "%d directory users carry %s", f.Claimants, s.E164)
	}
	num, ok := org.Numbers[s.E164]
	if !ok {
		return fail(CauseNumberNotProvisioned, "%s is not in the calling number inventory", s.E164)
	}
	d.LocationID = num.LocationID
	loc, ok := org.Locations[num.LocationID]
	if !ok {
		return fail(CauseNumberLocationInvalid, "%s belongs to location %q, which does not exist", s.E164, num.LocationID)
	}
	d.LocationName = loc.Name
	if !loc.CallingEnabled {
		return fail(CauseNumberLocationInvalid, "%s belongs to location %s, which is not enabled for Calling", s.E164, loc.Name)
	}
	if num.OwnerID != "" && !(num.OwnerType == OwnerPeople && num.OwnerID == f.Person.ID) {
		return fail(CauseNumberAssignedToOther, "%s is assigned to %s %s", s.E164, ownerKind(num.OwnerType), num.OwnerID)
	}
	lics, why := ResolveLicences(tmpl, org)
	if why != "" {
		return fail(CauseLicenceUnavailable, "%s", why)
	}
	for _, l := range lics {
		d.Licences = append(d.Licences, l.ID)
	}
	for _, l := range lics {
		if held(f.Person, l.ID) {
			continue
		}
		if l.Status != "" && l.Status != StatusActive {
			return fail(CauseLicenceUnavailable, "%s (subscription %s) is %s", l.Name, l.SubscriptionID, strings.ToLower(l.Status))
		}
		if l.Free() <= 0 {
			return fail(CauseLicenceUnavailable, "%s (subscription %s) has no free units: %d of %d used", l.Name, l.SubscriptionID, l.ConsumedUnits, l.TotalUnits)
		}
	}
	var add []string
	for _, l := range lics {
		if !held(f.Person, l.ID) {
			add = append(add, l.ID)
		}
	}
	d.Outcome = WouldProvision
	d.Change = &Change{
		SourceID: s.User.ID, PersonID: f.Person.ID, Email: f.Person.Email, Licences: add,
		LocationID: num.LocationID, PhoneNumber: s.E164, Extension: num.Extension,
	}
	return d
}

func held(p *Person, id string) bool {
	for _, h := range p.Licences {
		if h == id {
			return true
		}
	}
	return false
}

func ownerKind(t string) string {
	switch t {
	case OwnerPeople:
		return "user"
	case OwnerPlace:
		return "workspace"
	case "":
		return "an owner"
	}
	return strings.ToLower(strings.ReplaceAll(t, "_", " "))
}
