package pass

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// Move asks Execute to move Calling users from one subscription to another
// instead of reading the directory: each holder of a Calling licence of
// From becomes one change that adds the licence of the same name in To and
// removes the old one together (licensing.PlanMove). The plan then goes
// through the same removals guard, apply stage, state store and report as
// a pass's.
type Move struct {
	From, To string
	// Only, when set, limits the move to these lower-case emails; one that
	// holds no licence of From is reported SKIPPED.
	Only map[string]bool
	// Workspaces moves the workspaces holding From's Calling licences too;
	// Only does not limit them.
	Workspaces bool
}

// MoveRequestError is a move that cannot be planned as asked: the same
// subscription twice, or one that lacks the licences to move.
type MoveRequestError struct{ Err error }

func (e *MoveRequestError) Error() string { return e.Err.Error() }

func (e *MoveRequestError) Unwrap() error { return e.Err }

// planMove makes a move's plan: one decision per holder of the old
// subscription's Calling licences (and per workspace, with Workspaces),
// in email order. The guard weighs the move against all the organisation's
// Calling holders. The whole move is refused when the new subscription
// cannot take every change.
func planMove(ctx context.Context, o *Options, org *licensing.Org, work, runID string) (*Plan, error) {
	m := o.Move
	lister, ok := o.Target.(holderLister)
	if !ok {
		return nil, errors.New("move: the target cannot list who holds a licence")
	}
	var mover workspaceMover
	if m.Workspaces {
		if mover, ok = o.Target.(workspaceMover); !ok {
			return nil, errors.New("move: the target cannot move workspaces")
		}
	}
	mp, err := licensing.PlanMove(org, m.From, m.To, m.Workspaces)
	if err != nil {
		return nil, &MoveRequestError{err}
	}
	holders := callingHolders(org, m.Workspaces)
	var people []licensing.Person
	for _, id := range mp.OldLicences() {
		ps, err := lister.Holders(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("move: holders of %s: %w", id, err)
		}
		people = append(people, ps...)
	}
	sort.Slice(people, func(i, j int) bool { return strings.ToLower(people[i].Email) < strings.ToLower(people[j].Email) })

	plan, err := newPlan(work, runID, org)
	if err != nil {
		return nil, err
	}
	add := func(d *PlanEntry) error {
		o.Progress.Decided.Add(1)
		return plan.add(d)
	}
	fail := func(err error) (*Plan, error) {
		plan.close()
		return nil, err
	}
	var changes []licensing.Change
	found := map[string]bool{}
	for _, p := range people {
		email := strings.ToLower(p.Email)
		if m.Only != nil && !m.Only[email] {
			continue
		}
		found[email] = true
		ch, detail, ok := mp.Move(p, org)
		if !ok {
			continue
		}
		changes = append(changes, ch)
		d := PlanEntry{
			User: licensing.DirectoryUser{ID: p.ID, Email: p.Email, DisplayName: p.DisplayName, WorkPhone: p.PhoneNumber, Enabled: true},
			Decision: licensing.Decision{Outcome: licensing.WouldProvision, Detail: detail, E164: p.PhoneNumber, LocationID: p.LocationID,
				LocationName: org.Locations[p.LocationID].Name, Licences: ch.Licences, Change: &ch},
			Holds: p.Licences,
		}
		if err := add(&d); err != nil {
			return fail(err)
		}
	}
	var missing []string
	for email := range m.Only {
		if !found[email] {
			missing = append(missing, email)
		}
	}
	sort.Strings(missing)
	for _, email := range missing {
		d := PlanEntry{User: licensing.DirectoryUser{Email: email}, Decision: licensing.Decision{Outcome: licensing.Skipped,
			Cause: licensing.CauseOutOfScope, Detail: fmt.Sprintf("holds no Calling licence of subscription %s", m.From)}}
		if err := add(&d); err != nil {
			return fail(err)
		}
	}
	var spaces []licensing.WorkspaceChange
	if mover != nil {
		seen := map[string]bool{}
		for _, id := range mp.OldLicences() {
			ws, err := mover.WorkspaceHolders(ctx, id)
			if err != nil {
				return fail(fmt.Errorf("move: workspaces holding %s: %w", id, err))
			}
			for _, w := range ws {
				if seen[w.ID] {
					continue
				}
				seen[w.ID] = true
				ch, detail, ok := mp.MoveWorkspace(w, org)
				if !ok {
					continue
				}
				spaces = append(spaces, ch)
				d := PlanEntry{
					User: licensing.DirectoryUser{ID: w.ID, DisplayName: w.Name, WorkPhone: w.PhoneNumber, Enabled: true},
					Decision: licensing.Decision{Outcome: licensing.WouldProvision, Detail: "workspace " + w.Name + ": " + detail, E164: w.PhoneNumber,
						LocationID: w.LocationID, LocationName: org.Locations[w.LocationID].Name, Licences: ch.Licences},
					Workspace: &ch,
				}
				if err := add(&d); err != nil {
					return fail(err)
				}
			}
		}
	}
	if err := mp.CheckUnits(changes, spaces, org); err != nil {
		return fail(err)
	}
	// Every user of a move loses a licence; the guard weighs them against
	// the organisation's Calling holders, not the move's own rows.
	plan.Users = max(holders, plan.Removing)
	if err := plan.seal(o.Policy.Removals); err != nil {
		return fail(err)
	}
	return plan, nil
}

// callingHolders is how many Calling licences the organisation has
// assigned (with workspaces, the workspaces' too): the users a move's
// removals are weighed against.
func callingHolders(org *licensing.Org, workspaces bool) int {
	n := 0
	for _, l := range org.Licences {
		if l.IsCalling() || (workspaces && l.Category() == licensing.CategoryWorkspaceCalling) {
			n += max(l.ConsumedUnits, 0)
		}
	}
	return n
}
