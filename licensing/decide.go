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
	// SameID and SameEmail are how many directory records carry the user's
	// id, and the user's email compared without case (the user included).
	// Only the pass, having read every record, knows them.
	SameID, SameEmail int
}

// Decide finishes the checks that Screen began, in the design's order, and
// returns the one decision for the user. It reads org and never changes it;
// the pass calls Org.Reserve for each WOULD_PROVISION it acts on. Records
// that share an id or an email fail right after an unreadable record and
// before every check Screen made after it: whichever of them is right, none
// can be trusted to be the user.
func (p *Policy) Decide(s Screened, f Facts, org *Org) Decision {
	if s.User.Unreadable != "" && s.Early != nil {
		return *s.Early
	}
	if f.SameID > 1 {
		return Decision{Outcome: Failed, Cause: CauseDuplicateID, E164: s.E164,
			Detail: fmt.Sprintf("%d directory records carry id %s", f.SameID, s.User.ID)}
	}
	if f.SameEmail > 1 {
		return Decision{Outcome: Failed, Cause: CauseDuplicateEmail, E164: s.E164,
			Detail: fmt.Sprintf("%d directory records carry email %s (compared without case)", f.SameEmail, strings.ToLower(strings.TrimSpace(s.User.Email)))}
	}
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
			return p.decideHeld(d, s, tmpl, f.Person, org)
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
	num, ok := org.Numbers.Get(s.E164)
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
		return fail(CauseNumberAssignedToOther, "%s", assignedDetail(s.E164, num))
	}
	lics, why := ResolveLicences(tmpl, org)
	if why != "" {
		return fail(CauseLicenceUnavailable, "%s", why)
	}
	d.Licences = ids(lics)
	add, remove, cause, why := p.changeFor(tmpl, lics, f.Person, org)
	if cause != "" {
		return fail(cause, "%s", why)
	}
	if len(add) == 0 && len(remove) == 0 {
		// A template without a Calling licence that the person already
		// holds whole: an empty change would be refused by every target.
		d.Outcome = AlreadyProvisioned
		return d
	}
	d.Outcome = WouldProvision
	d.Change = &Change{
		SourceID: s.User.ID, PersonID: f.Person.ID, Email: f.Person.Email, Licences: ids(add), Remove: ids(remove),
		LocationID: num.LocationID, PhoneNumber: s.E164, Extension: num.Extension,
	}
	if len(remove) > 0 {
		d.Detail = describe(add, remove, nil, org)
	}
	return d
}

// decideHeld decides for a person who already has Calling on the
// directory's number: nothing to do, or the template's licences they lack,
// with the Calling licence of another subscription (a move) or what the
// template replaces taken away in the same request.
func (p *Policy) decideHeld(d Decision, s Screened, tmpl *Template, person *Person, org *Org) Decision {
	d.Outcome = AlreadyProvisioned
	lics, why := ResolveLicences(tmpl, org)
	if why != "" {
		// What the person holds keeps working; a template the org cannot
		// resolve changes nobody who is already provisioned.
		return d
	}
	add, remove, cause, why := p.changeFor(tmpl, lics, person, org)
	if cause != "" {
		d.Outcome, d.Cause, d.Detail, d.Licences = Failed, cause, why, ids(lics)
		return d
	}
	if len(add) == 0 && len(remove) == 0 {
		return d
	}
	d.Outcome, d.Licences = WouldProvision, ids(lics)
	d.Change = &Change{
		SourceID: s.User.ID, PersonID: person.ID, Email: person.Email, Licences: ids(add), Remove: ids(remove),
		LocationID: person.LocationID, PhoneNumber: person.PhoneNumber, Extension: extension(org, person.PhoneNumber),
	}
	d.Detail = describe(add, remove, person, org)
	return d
}

// changeFor works out what applying the template's licences lics to person
// adds and removes. A user holds one Calling licence, so the template's
// replaces any other in the same request; a user holds one Contact Center
// agent licence, so the other kind is swapped, but only when removals are
// acknowledged; a template that does not preserve existing licences also
// removes what the person holds in the categories it carries. Every licence
// to add must have a free unit: the user gets the whole template or nothing.
func (p *Policy) changeFor(tmpl *Template, lics []Licence, person *Person, org *Org) (add, remove []Licence, cause Cause, why string) {
	inTemplate := map[string]bool{}
	categories := map[string]bool{}
	var agent *Licence
	for i, l := range lics {
		inTemplate[l.ID] = true
		categories[l.Category()] = true
		if l.AgentKind() != "" {
			if agent != nil && agent.AgentKind() != l.AgentKind() {
				return nil, nil, CauseAgentLicenceConflict, fmt.Sprintf("template %q carries both %s and %s; a user has one agent licence, never both", tmpl.Name, agent.Name, l.Name)
			}
			agent = &lics[i]
		}
	}
	for _, l := range lics {
		if !held(person, l.ID) {
			add = append(add, l)
		}
	}
	for _, id := range person.Licences {
		h, known := org.Licences[id]
		if inTemplate[id] || !known {
			continue
		}
		switch {
		case h.IsCalling() && categories[CategoryCalling] && addsCalling(add):
			remove = append(remove, h)
		case h.AgentKind() != "" && agent != nil:
			if !p.Removals.Acknowledge {
				return nil, nil, CauseAgentLicenceConflict, fmt.Sprintf("the person holds %s (subscription %s) and template %q gives %s (subscription %s); a user has one agent licence, never both, and swapping them needs removals.acknowledge: true",
					h.Name, h.SubscriptionID, tmpl.Name, agent.Name, agent.SubscriptionID)
			}
			remove = append(remove, h)
		case tmpl.ReplaceExisting && categories[h.Category()]:
			remove = append(remove, h)
		}
	}
	for _, l := range add {
		whole := ""
		if len(lics) > 1 {
			whole = fmt.Sprintf("; none of template %q's licences is applied", tmpl.Name)
		}
		if l.Status != "" && l.Status != StatusActive {
			return nil, nil, CauseLicenceUnavailable, fmt.Sprintf("%s is %s%s", unavailableRef(l), strings.ToLower(l.Status), whole)
		}
		if l.Free() <= 0 {
			return nil, nil, CauseLicenceUnavailable, fmt.Sprintf("%s has no free units: %d of %d used%s", unavailableRef(l), l.ConsumedUnits, l.TotalUnits, whole)
		}
	}
	return add, remove, "", ""
}

// assignedDetail says who holds a number another user claims; the heal
// stage compares it with the stored failure to tell whether the owner
// changed.
func assignedDetail(e164 string, num Number) string {
	return fmt.Sprintf("%s is assigned to %s %s", e164, ownerKind(num.OwnerType), num.OwnerID)
}

// unavailableRef names a licence a user cannot get at the start of a
// LICENCE_UNAVAILABLE detail, which is how healing finds it again.
func unavailableRef(l Licence) string {
	return fmt.Sprintf("%s (subscription %s)", l.Name, l.SubscriptionID)
}

// extension is the inventory's extension of the number e164, "" when the
// number is not in the inventory.
func extension(org *Org, e164 string) string {
	n, _ := org.Numbers.Get(e164)
	return n.Extension
}

func addsCalling(add []Licence) bool {
	for _, l := range add {
		if l.IsCalling() {
			return true
		}
	}
	return false
}

// describe says what a change adds and removes, for the report.
func describe(add, remove []Licence, person *Person, org *Org) string {
	var from, to *Licence
	for i := range remove {
		if carriesNumber(remove[i]) {
			from = &remove[i]
		}
	}
	for i := range add {
		if carriesNumber(add[i]) {
			to = &add[i]
		}
	}
	var parts []string
	if from != nil && to != nil && person != nil {
		keep := person.PhoneNumber
		if keep == "" {
			keep = "no number"
		}
		if ext := extension(org, person.PhoneNumber); ext != "" {
			keep += ", extension " + ext
		}
		if loc := org.Locations[person.LocationID].Name; loc != "" {
			keep += ", location " + loc
		}
		parts = append(parts, fmt.Sprintf("moves Calling from %s to %s in one request, keeping %s", refOf(*from), refOf(*to), keep))
		add, remove = without(add, to.ID), without(remove, from.ID)
	}
	if len(add) > 0 {
		parts = append(parts, "adds "+refsOf(add))
	}
	if len(remove) > 0 {
		parts = append(parts, "removes "+refsOf(remove))
	}
	return strings.Join(parts, "; ")
}

// carriesNumber reports whether l is a Calling licence of a person or a
// workspace: the kind a move keeps the number across.
func carriesNumber(l Licence) bool {
	return l.IsCalling() || l.Category() == CategoryWorkspaceCalling
}

func refOf(l Licence) string { return fmt.Sprintf("%s [%s]", l.Name, l.SubscriptionID) }

func refsOf(ls []Licence) string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = refOf(l)
	}
	return strings.Join(out, ", ")
}

func without(ls []Licence, id string) []Licence {
	var out []Licence
	for _, l := range ls {
		if l.ID != id {
			out = append(out, l)
		}
	}
	return out
}

func ids(ls []Licence) []string {
	if len(ls) == 0 {
		return nil
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
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
