package controlhub

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// MaxImportRows is how many users one Control Hub CSV import should hold:
// Control Hub's help on adding and modifying users with the CSV template
// says a file updates up to 20,000 users, and a larger one is refused.
const MaxImportRows = 20000

// Mode is the import mode to choose in Control Hub for a bulk file.
type Mode string

// Control Hub's two import modes, named as its import dialog names them.
const (
	// AddServicesOnly applies the TRUE cells and ignores the FALSE ones.
	AddServicesOnly Mode = "Add services only"
	// AddAndRemoveServices also removes the licence of every FALSE cell.
	AddAndRemoveServices Mode = "Add and remove services"
)

// BulkHeader is the user part of a bulk file's header; one column per
// licence follows.
var BulkHeader = []string{ColEmail, ColPhoneNumber, ColExtension, ColLocation}

// Planned is one user's planned change and what the bulk file needs besides.
type Planned struct {
	Change licensing.Change
	// LocationName is the Calling location's name, as Control Hub's
	// Location column wants it (the Decision carries it).
	LocationName string
	// Holds are the ids of the licences the person holds before the change.
	Holds []string
}

// BulkOptions say what a bulk file may contain.
type BulkOptions struct {
	// AllowRemovals is set when the configuration acknowledges removals and
	// the pass stays under the removal threshold. Without it no row that
	// takes a licence away is written.
	AllowRemovals bool
	// MaxRows is the size over which the file carries a warning; 0 means
	// MaxImportRows.
	MaxRows int
}

// LeftOut is a planned change the bulk file does not carry, and why.
type LeftOut struct {
	Email  string
	Reason string
}

// BulkResult says what was written and how to import it.
type BulkResult struct {
	// Rows is how many user rows the file holds.
	Rows int
	// Mode is the import mode the file is meant for.
	Mode Mode
	// Header is the file's header row.
	Header []string
	// Removing is how many rows take a licence away.
	Removing int
	LeftOut  []LeftOut
	Warnings []string
}

// bulkRow is one user's row before it is written.
type bulkRow struct {
	p     *Planned
	after map[string]bool
	gone  map[string]bool
}

// WriteBulk writes plan as a Control Hub bulk-licence CSV. Changes the file
// cannot carry safely are left out and listed in the result, never written
// half: a removal without AllowRemovals, a move out of a suspended or
// expired subscription (Control Hub's CSV path loses the user's Calling
// configuration there; licensync run moves such users one by one), a licence
// whose subscription is not active, an end state with two Calling licences
// or both Contact Center agent kinds, or a cell a spreadsheet would run as a
// formula (licensing.FormulaCell). An error means nothing usable was
// written.
func WriteBulk(w io.Writer, org *licensing.Org, plan []Planned, o BulkOptions) (*BulkResult, error) {
	if o.MaxRows <= 0 {
		o.MaxRows = MaxImportRows
	}
	res := &BulkResult{Mode: AddServicesOnly}
	var rows []bulkRow
	columns := map[string]bool{}
	for i := range plan {
		p := &plan[i]
		r, why, err := rowFor(p, org, o.AllowRemovals)
		if err != nil {
			return nil, err
		}
		if why != "" {
			res.LeftOut = append(res.LeftOut, LeftOut{Email: p.Change.Email, Reason: why})
			continue
		}
		for _, id := range p.Change.Licences {
			columns[id] = true
		}
		for _, id := range p.Change.Remove {
			columns[id] = true
		}
		// Control Hub updates a Calling user only when the row carries the
		// user's Calling column with TRUE, so a held Calling licence that
		// stays gets its column too.
		for id := range r.after {
			if org.Licences[id].IsCalling() {
				columns[id] = true
			}
		}
		rows = append(rows, r)
	}
	cols, err := orderColumns(columns, org)
	if err != nil {
		return nil, err
	}
	res.Header = append(slices.Clone(BulkHeader), headers(cols)...)
	cw := csv.NewWriter(w)
	if err := cw.Write(res.Header); err != nil {
		return nil, fmt.Errorf("controlhub: %w", err)
	}
	rec := make([]string, len(res.Header))
	for _, r := range rows {
		c := r.p.Change
		rec[0], rec[1], rec[2], rec[3] = c.Email, c.PhoneNumber, c.Extension, r.p.LocationName
		cells := make([]Cell, len(cols))
		for j, l := range cols {
			switch {
			case r.gone[l.ID]:
				cells[j] = False
			case r.after[l.ID]:
				cells[j] = True
			}
			rec[len(BulkHeader)+j] = cells[j].String()
		}
		if err := checkRow(c.Email, cols, cells, o.AllowRemovals); err != nil {
			return nil, err
		}
		if len(r.gone) > 0 {
			res.Removing++
			res.Mode = AddAndRemoveServices
		}
		if err := cw.Write(rec); err != nil {
			return nil, fmt.Errorf("controlhub: %w", err)
		}
		res.Rows++
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("controlhub: %w", err)
	}
	if res.Rows == 0 {
		res.Warnings = append(res.Warnings, "the file has no user rows: the plan has no change Control Hub's CSV import can carry")
	}
	if res.Rows > o.MaxRows {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the file has %d user rows, more than the %d one Control Hub import takes: split it into files of at most %d rows and import each after the previous task has completed", res.Rows, o.MaxRows, o.MaxRows))
	}
	return res, nil
}

// rowFor works out a user's licences after the change, or why the change
// stays out of the file.
func rowFor(p *Planned, org *licensing.Org, allowRemovals bool) (bulkRow, string, error) {
	c := &p.Change
	r := bulkRow{p: p, after: map[string]bool{}, gone: map[string]bool{}}
	if c.Email == "" {
		return r, "", fmt.Errorf("controlhub: a planned change for person %q has no email", c.PersonID)
	}
	// A guard such as a leading apostrophe would change the text Control
	// Hub must match, so a cell a spreadsheet would run keeps its row out.
	for _, cell := range []struct {
		name, value string
		phone       bool
	}{{"email", c.Email, false}, {"phone number", c.PhoneNumber, true}, {"extension", c.Extension, false}, {"location", p.LocationName, false}} {
		if licensing.FormulaCell(cell.value, cell.phone) {
			return r, fmt.Sprintf("the %s starts with %q: a spreadsheet would run the cell as a formula; license the user with licensync run or in Control Hub", cell.name, cell.value[0]), nil
		}
	}
	known := func(id string) (licensing.Licence, error) {
		l, ok := org.Licences[id]
		if !ok {
			return l, fmt.Errorf("controlhub: the change for %s names licence %q, which the organisation does not have", c.Email, id)
		}
		return l, nil
	}
	for _, id := range c.Remove {
		l, err := known(id)
		if err != nil {
			return r, "", err
		}
		if !allowRemovals {
			return r, fmt.Sprintf("removes %s [%s]: removals are not acknowledged (removals.acknowledge), or the pass is over removals.max_fraction", l.Name, l.SubscriptionID), nil
		}
		if l.Status != "" && l.Status != licensing.StatusActive {
			return r, fmt.Sprintf("moves out of %s [%s], which is %s: Control Hub's CSV import loses the user's Calling configuration there; let licensync run move the user", l.Name, l.SubscriptionID, strings.ToLower(l.Status)), nil
		}
		r.gone[id] = true
	}
	for _, id := range p.Holds {
		if l, ok := org.Licences[id]; ok && !r.gone[id] && (l.Status == "" || l.Status == licensing.StatusActive) {
			r.after[id] = true
		}
	}
	for _, id := range c.Licences {
		l, err := known(id)
		if err != nil {
			return r, "", err
		}
		if l.Status != "" && l.Status != licensing.StatusActive {
			return r, fmt.Sprintf("adds %s [%s], which is %s: Control Hub refuses a TRUE in a suspended service's column", l.Name, l.SubscriptionID, strings.ToLower(l.Status)), nil
		}
		r.after[id] = true
	}
	calling, agents := 0, map[string]bool{}
	for id := range r.after {
		l := org.Licences[id]
		if l.IsCalling() {
			calling++
		}
		if k := l.AgentKind(); k != "" {
			agents[k] = true
		}
	}
	if calling > 1 {
		return r, "the user would hold two Calling licences; Control Hub refuses such a row", nil
	}
	if len(agents) > 1 {
		return r, "the user would hold both Contact Center Standard and Premium Agent; a user has one or the other", nil
	}
	return r, "", nil
}

// checkRow is the last guard before a row is written, on the cells
// themselves: in the "Add and remove services" import a FALSE Calling
// column removes Calling, and Standard and Premium Agent both FALSE remove
// Contact Center. Without acknowledged removals no such row leaves here,
// whatever built it.
func checkRow(email string, cols []licensing.Licence, cells []Cell, allowRemovals bool) error {
	var callingTrue, callingFalse, agentTrue, agentFalse int
	for j, l := range cols {
		switch {
		case l.IsCalling() && cells[j] == True:
			callingTrue++
		case l.IsCalling() && cells[j] == False:
			callingFalse++
		case l.AgentKind() != "" && cells[j] == True:
			agentTrue++
		case l.AgentKind() != "" && cells[j] == False:
			agentFalse++
		}
	}
	switch {
	case callingTrue > 1:
		return fmt.Errorf("controlhub: the row for %s would give two Calling licences; nothing was written", email)
	case agentTrue > 1:
		return fmt.Errorf("controlhub: the row for %s would give two Contact Center agent licences; nothing was written", email)
	case allowRemovals:
		return nil
	case callingFalse > 0 && callingTrue == 0:
		return fmt.Errorf("controlhub: the row for %s has its Calling column FALSE, which removes Calling in an \"Add and remove services\" import, and removals are not acknowledged; nothing was written", email)
	case agentFalse > 0 && agentTrue == 0:
		return fmt.Errorf("controlhub: the row for %s has its Contact Center agent columns FALSE, which removes Contact Center in an \"Add and remove services\" import, and removals are not acknowledged; nothing was written", email)
	case slices.Contains(cells, False):
		return fmt.Errorf("controlhub: the row for %s takes a licence away and removals are not acknowledged; nothing was written", email)
	}
	return nil
}

// categoryOrder puts Calling first and Contact Center next, as an
// administrator reads the file.
var categoryOrder = map[string]int{licensing.CategoryCalling: 0, licensing.CategoryContactCenter: 1}

func orderColumns(ids map[string]bool, org *licensing.Org) ([]licensing.Licence, error) {
	cols := make([]licensing.Licence, 0, len(ids))
	for id := range ids {
		cols = append(cols, org.Licences[id])
	}
	rank := func(l licensing.Licence) int {
		if r, ok := categoryOrder[l.Category()]; ok {
			return r
		}
		return len(categoryOrder)
	}
	slices.SortFunc(cols, func(a, b licensing.Licence) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Name, b.Name), cmp.Compare(a.SubscriptionID, b.SubscriptionID), cmp.Compare(a.ID, b.ID))
	})
	for i := 1; i < len(cols); i++ {
		if Header(cols[i]) == Header(cols[i-1]) {
			return nil, fmt.Errorf("controlhub: licences %s and %s are both %q; Control Hub could not tell their columns apart", cols[i-1].ID, cols[i].ID, Header(cols[i]))
		}
	}
	return cols, nil
}

// Header is a licence's column header as Control Hub names it: the licence
// name and, in brackets, its subscription.
func Header(l licensing.Licence) string {
	if l.SubscriptionID == "" {
		return l.Name
	}
	return fmt.Sprintf("%s [%s]", l.Name, l.SubscriptionID)
}

func headers(ls []licensing.Licence) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = Header(l)
	}
	return out
}
