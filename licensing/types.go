package licensing

import "strings"

// DirectoryUser is one person as a directory source reports it. Values are
// untrusted: they are validated by the decision, never by the source.
type DirectoryUser struct {
	// ID is the source's stable identifier (objectGUID, entryUUID, Graph or Okta id).
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	// WorkPhone is the phone value exactly as the directory stores it.
	WorkPhone string `json:"work_phone"`
	Enabled   bool   `json:"enabled"`
	// Groups holds the names, ids or DNs of the groups the user belongs to,
	// nested memberships included; templates match any of them.
	Groups []string `json:"groups,omitempty"`
	// Removed marks a user an incremental source reports as deleted.
	Removed bool `json:"removed,omitempty"`
	// Unreadable is set by a source when it found the record but could not
	// read all of it (a broken CSV row, an attribute that does not parse);
	// it says where and what, e.g. "line 12: enabled is \"maybe\"". Such a
	// user fails with UNREADABLE_RECORD, and a pass that met one forgets
	// nobody: the directory was not read whole.
	Unreadable string `json:"unreadable,omitempty"`
}

// Location is a calling location of the organisation.
type Location struct {
	ID             string
	Name           string
	CallingEnabled bool
}

// Owner types of a number, as the Webex numbers API names them.
const (
	OwnerPeople = "PEOPLE"
	OwnerPlace  = "PLACE"
)

// Number is one entry of the calling number inventory.
type Number struct {
	E164       string
	Extension  string
	LocationID string
	// State is the inventory state (ACTIVE, INACTIVE); informational.
	State string
	// OwnerType and OwnerID are empty when the number is free.
	OwnerType string
	OwnerID   string
}

// Licence statuses a subscription can be in.
const (
	StatusActive    = "ACTIVE"
	StatusSuspended = "SUSPENDED"
	StatusExpired   = "EXPIRED"
)

// Licence is one licence of the organisation, drawn from one subscription.
type Licence struct {
	ID             string
	Name           string
	SubscriptionID string
	TotalUnits     int
	ConsumedUnits  int
	Status         string
}

// Free reports how many units can still be assigned.
func (l Licence) Free() int { return l.TotalUnits - l.ConsumedUnits }

// IsCalling reports whether the licence is a Webex Calling user licence
// (Professional, Basic or Standard), the kind that carries a number.
func (l Licence) IsCalling() bool {
	n := strings.ToLower(l.Name)
	return strings.Contains(n, "calling") && !strings.Contains(n, "workspace")
}

// Person is a Webex person: the account a directory user must already have
// (created by the directory connector) before Calling can be applied.
type Person struct {
	ID          string
	Email       string
	DisplayName string
	// Licences holds the ids of the licences the person holds.
	Licences []string
	// PhoneNumber and LocationID are set once the person has Calling.
	PhoneNumber string
	LocationID  string
}

// Org is a snapshot of the calling organisation taken at the start of a pass.
// People are not part of it: they are looked up in batches as users stream
// by, so memory follows the number inventory and not the directory.
type Org struct {
	Locations map[string]Location
	// Numbers is the number inventory, keyed by E.164 number.
	Numbers  Inventory
	Licences map[string]Licence
}

// NewOrg returns an empty snapshot ready to be filled.
func NewOrg() *Org {
	return &Org{Locations: map[string]Location{}, Licences: map[string]Licence{}}
}

// HasCalling reports whether p holds any Calling licence of org.
func (o *Org) HasCalling(p *Person) bool {
	for _, id := range p.Licences {
		if l, ok := o.Licences[id]; ok && l.IsCalling() {
			return true
		}
	}
	return false
}

// Reserve records in the snapshot what applying c will consume and free, so
// that later decisions in the same pass see the units and the number as
// taken.
func (o *Org) Reserve(c Change) {
	for _, id := range c.Licences {
		if l, ok := o.Licences[id]; ok {
			l.ConsumedUnits++
			o.Licences[id] = l
		}
	}
	for _, id := range c.Remove {
		if l, ok := o.Licences[id]; ok && l.ConsumedUnits > 0 {
			l.ConsumedUnits--
			o.Licences[id] = l
		}
	}
	if n, ok := o.Numbers.Get(c.PhoneNumber); ok && c.PhoneNumber != "" {
		n.OwnerType, n.OwnerID = OwnerPeople, c.PersonID
		o.Numbers.Set(n)
	}
}

// Change is one write a pass asks a target to make: add the template's
// licences to one person, with the Calling number at its location, and
// remove what the template replaces, all in one request.
type Change struct {
	SourceID string
	PersonID string
	Email    string
	// Licences are the licence ids to add.
	Licences []string
	// Remove are the licence ids to remove in the same request: the old
	// subscription's licence in a move, or what a template that does not
	// preserve existing licences takes away.
	Remove      []string
	LocationID  string
	PhoneNumber string
	Extension   string
}
