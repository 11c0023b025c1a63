package pass

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/licensync/licensync/licensing"
)

// Plan is the decided changes of one pass or one move, and the one value
// every write goes through. A pass makes it in one pipeline: the source
// streams users, the rules (licensing.Policy.Screen and Decide) turn each
// into a decision, and the decisions, with the changes they ask for, are
// spilled in order into the plan; a move makes its plan the same way from
// the holders of a subscription and licensing.PlanMove. The plan counts the
// users it decided and those who would lose a licence, so the removals
// guard (removals.acknowledge and removals.max_fraction) judges it once,
// whole, before anything is written. Then exactly one thing consumes it:
// apply (run, serve, move) writes its changes through the target and
// records what landed, export (plan --export controlhub-csv) writes its
// changes as a Control Hub file, or nothing (plan) and only the report
// shows it. The plan lives on disk, in the pass's work folder, so a plan of
// a million users keeps memory bounded.
type Plan struct {
	// RunID is the pass or move that made the plan.
	RunID string
	// Users is how many users the guard weighs the removals against: the
	// users decided in a pass, the organisation's Calling holders in a move.
	// Removing is how many of them would lose a licence.
	Users, Removing int
	// Org is the snapshot the plan was decided on, with its changes
	// reserved.
	Org *licensing.Org
	// Refusal is why the removals guard refuses the plan; nil when it may
	// be applied.
	Refusal error

	file *os.File
	enc  *spillWriter
	// n counts the entries; firstRemoval is the index of the first that
	// removes a licence (-1 while none does), and firstRemovalAt where it
	// starts in the spill.
	n              int
	firstRemoval   int
	firstRemovalAt int64
	// early is set when the entries before the first removal were
	// recorded as they were decided.
	early bool
	// sealed is set once every decision is in.
	sealed bool
}

// PlanEntry is one user's decision in a plan: a directory user's in a
// pass, a person's or a workspace's in a move.
type PlanEntry struct {
	User     licensing.DirectoryUser
	Decision licensing.Decision
	// Holds are the ids of the licences the person held when decided, so
	// that an export can say which of them stay.
	Holds []string
	// Workspace is a workspace's move, which a workspace target applies;
	// Decision.Change is nil then.
	Workspace *licensing.WorkspaceChange
}

// removes reports whether the decision takes a licence away.
func (d *PlanEntry) removes() bool {
	if c := d.Decision.Change; c != nil && len(c.Remove) > 0 {
		return true
	}
	return d.Workspace != nil && len(d.Workspace.Remove) > 0
}

// newPlan starts an empty plan, spilled into the work folder.
func newPlan(work, runID string, org *licensing.Org) (*Plan, error) {
	f, err := os.CreateTemp(work, "licensync-decided-*")
	if err != nil {
		return nil, fmt.Errorf("pass: spill file: %w", err)
	}
	return &Plan{RunID: runID, Org: org, file: f, enc: newSpillWriter(f), firstRemoval: -1}, nil
}

// add appends one decision, in order, counting it for the guard; a user
// the source reported removed is carried for the record but not counted.
func (p *Plan) add(d *PlanEntry) error {
	if !d.User.Removed {
		p.Users++
		if d.removes() {
			p.Removing++
		}
	}
	if p.firstRemoval < 0 && d.removes() {
		p.firstRemoval, p.firstRemovalAt = p.n, p.enc.size
	}
	p.n++
	return p.enc.entry(d)
}

// settled is how many of the entries so far come before the first
// removal: the guard's verdict cannot change what they say.
func (p *Plan) settled() int {
	if p.firstRemoval < 0 {
		return p.n
	}
	return p.firstRemoval
}

// seal ends the plan: every decision is in, and the guard may judge it.
func (p *Plan) seal(r licensing.Removals) error {
	if err := p.enc.flush(); err != nil {
		return err
	}
	p.sealed = true
	p.Refusal = r.Allow(p.Removing, p.Users)
	return nil
}

// Each hands the plan's decisions to fn in order, in batches of up to size.
// fn may keep a batch: each is a new slice.
func (p *Plan) Each(size int, fn func([]PlanEntry) error) error {
	return p.eachFrom(0, size, fn)
}

// eachUnrecorded is Each without the entries recorded while deciding.
func (p *Plan) eachUnrecorded(size int, fn func([]PlanEntry) error) error {
	if !p.early {
		return p.Each(size, fn)
	}
	if p.firstRemoval < 0 {
		return nil
	}
	return p.eachFrom(p.firstRemovalAt, size, fn)
}

func (p *Plan) eachFrom(at int64, size int, fn func([]PlanEntry) error) error {
	if !p.sealed {
		return errors.New("pass: the plan is read before it is complete")
	}
	if _, err := p.file.Seek(at, io.SeekStart); err != nil {
		return fmt.Errorf("pass: spill: %w", err)
	}
	return eachBatch(size, newSpillReader(p.file).entry, fn)
}

// close removes the plan's spill.
func (p *Plan) close() {
	if p != nil {
		p.file.Close()
		os.Remove(p.file.Name())
	}
}

// eachBatch reads items with next until io.EOF and hands them to fn in
// batches of up to size, each a new slice.
func eachBatch[T any](size int, next func() (T, error), fn func([]T) error) error {
	batch := make([]T, 0, size)
	for {
		v, err := next()
		if errors.Is(err, io.EOF) {
			if len(batch) > 0 {
				return fn(batch)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("pass: spill: %w", err)
		}
		batch = append(batch, v)
		if len(batch) == size {
			if err := fn(batch); err != nil {
				return err
			}
			batch = make([]T, 0, size)
		}
	}
}
