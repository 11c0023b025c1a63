package licensing

import (
	"fmt"
	"sort"
	"strings"
)

// MovePlan moves Calling users from one subscription to another: each
// Calling licence of the old subscription maps to the licence of the same
// name in the new one, and each person becomes one change that adds the new
// licence and removes the old one together, keeping number, extension and
// location. Removing first and adding after would lose the number and the
// call settings in between.
type MovePlan struct {
	From, To string
	// Pairs maps an old licence's id to the new licence that replaces it.
	Pairs map[string]Licence
	// Old holds the old subscription's Calling licences by id.
	Old map[string]Licence
}

// Workspace is a Webex workspace with Calling: the phone of a lobby, a
// meeting room or a shared desk. Its Calling licence moves between
// subscriptions the way a person's does.
type Workspace struct {
	ID, Name    string
	Licences    []string
	PhoneNumber string
	Extension   string
	LocationID  string
}

// WorkspaceChange is one workspace's move: the licences to add and remove
// in one request, keeping number, extension and location.
type WorkspaceChange struct {
	WorkspaceID string
	Licences    []string
	Remove      []string
	LocationID  string
	PhoneNumber string
	Extension   string
}

// PlanMove pairs the Calling licences of subscription from with those of
// subscription to; with workspaces, the workspace Calling licences too. It
// fails when from has no Calling licence, or to lacks one of the same name
// or is not active.
func PlanMove(org *Org, from, to string, workspaces bool) (*MovePlan, error) {
	if strings.EqualFold(from, to) {
		return nil, fmt.Errorf("move: --from and --to are both %s", from)
	}
	m := &MovePlan{From: from, To: to, Pairs: map[string]Licence{}, Old: map[string]Licence{}}
	var olds []Licence
	for _, l := range org.Licences {
		movable := l.IsCalling() || (workspaces && l.Category() == CategoryWorkspaceCalling)
		if movable && strings.EqualFold(l.SubscriptionID, from) {
			olds = append(olds, l)
		}
	}
	if len(olds) == 0 {
		return nil, fmt.Errorf("move: subscription %s has no Calling licence in the organisation (check --from)", from)
	}
	sort.Slice(olds, func(i, j int) bool { return olds[i].ID < olds[j].ID })
	for _, old := range olds {
		ref := LicenceRef{Name: old.Name, Subscription: to}
		nu, ok := findLicence(ref, org)
		if !ok {
			return nil, fmt.Errorf("move: subscription %s has no %q to replace %s (check --to)", to, old.Name, refOf(old))
		}
		if nu.Status != "" && nu.Status != StatusActive {
			return nil, fmt.Errorf("move: %s is %s; nothing can move onto it", refOf(nu), strings.ToLower(nu.Status))
		}
		m.Old[old.ID], m.Pairs[old.ID] = old, nu
	}
	return m, nil
}

// OldLicences returns the ids of the old subscription's Calling licences,
// sorted, whose holders move.
func (m *MovePlan) OldLicences() []string {
	out := make([]string, 0, len(m.Old))
	for id := range m.Old {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Move is the change that moves p, and the words that say so. ok is false
// when p holds none of the old subscription's Calling licences.
func (m *MovePlan) Move(p Person, org *Org) (c Change, detail string, ok bool) {
	for _, id := range p.Licences {
		old, found := m.Old[id]
		if !found {
			continue
		}
		nu := m.Pairs[id]
		c = Change{PersonID: p.ID, Email: p.Email, Licences: []string{nu.ID}, Remove: []string{old.ID},
			LocationID: p.LocationID, PhoneNumber: p.PhoneNumber, Extension: extension(org, p.PhoneNumber)}
		return c, describe([]Licence{nu}, []Licence{old}, &p, org), true
	}
	return Change{}, "", false
}

// CheckUnits refuses the whole move when the new subscription cannot take
// every change: moving some users and stranding the rest helps nobody.
func (m *MovePlan) CheckUnits(changes []Change, workspaces []WorkspaceChange, org *Org) error {
	need := map[string]int{}
	for _, c := range changes {
		for _, id := range c.Licences {
			need[id]++
		}
	}
	for _, c := range workspaces {
		for _, id := range c.Licences {
			need[id]++
		}
	}
	var short []string
	for id, n := range need {
		if l := org.Licences[id]; l.Free() < n {
			short = append(short, fmt.Sprintf("%s has %d free units and the move needs %d", refOf(l), max(l.Free(), 0), n))
		}
	}
	if len(short) > 0 {
		sort.Strings(short)
		return fmt.Errorf("move: %s; nothing was moved: add units to %s or move fewer users (--users)", strings.Join(short, "; "), m.To)
	}
	return nil
}

// MoveWorkspace is the change that moves w, and the words that say so; ok
// is false when w holds none of the old subscription's licences.
func (m *MovePlan) MoveWorkspace(w Workspace, org *Org) (c WorkspaceChange, detail string, ok bool) {
	for _, id := range w.Licences {
		old, found := m.Old[id]
		if !found {
			continue
		}
		nu := m.Pairs[id]
		ext := w.Extension
		if ext == "" {
			ext = extension(org, w.PhoneNumber)
		}
		c = WorkspaceChange{WorkspaceID: w.ID, Licences: []string{nu.ID}, Remove: []string{old.ID}, LocationID: w.LocationID, PhoneNumber: w.PhoneNumber, Extension: ext}
		p := Person{PhoneNumber: w.PhoneNumber, LocationID: w.LocationID}
		return c, describe([]Licence{nu}, []Licence{old}, &p, org), true
	}
	return WorkspaceChange{}, "", false
}
