package pass

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// Mode says whether a pass applies its decisions.
type Mode string

// The pass modes.
const (
	// PlanOnly decides and reports; it touches nothing in the target.
	PlanOnly Mode = "plan"
	// Apply decides, applies and records the latest decision of each user.
	Apply Mode = "run"
)

// Options configure one pass.
type Options struct {
	Policy *licensing.Policy
	Source Source
	Target Target
	Store  *Store
	Mode   Mode
	// Full ignores the stored checkpoint.
	Full bool
	// SourceKey names the source's checkpoint in the store.
	SourceKey string
	// ReportDir is the root: the pass writes ReportDir/<run id>/ and
	// ReportDir/latest/. ExactReportDir, when set, is the one folder used.
	ReportDir      string
	ExactReportDir string
	// BatchSize is how many users are looked up and applied together.
	BatchSize int
	// Workers screen users in parallel; 0 means one per core.
	Workers int
	Log     *zap.Logger
	// Progress, when set, is updated as the pass goes.
	Progress *Progress
	// Now and RunID fix the clock and the id, for golden reports.
	Now   func() time.Time
	RunID string

	// Move, when set, makes this a move: its plan holds the moves of the
	// holders of a subscription instead of the directory's decisions, and
	// neither the source nor the checkpoint is used.
	Move *Move
	// Export, when set, consumes the plan of a PlanOnly pass: it is handed
	// the guarded plan before the report is written. A plan is applied or
	// exported, never both.
	Export func(*Plan) error

	// heal is the healing stage of an incremental pass; nil otherwise.
	heal *healer
}

// Progress counts a pass's work for a terminal display and the service's
// watchdog; safe to read while the pass runs.
type Progress struct {
	Read, Decided, Applied atomic.Int64
	// Liveness hears from the source and the target between users: answers
	// received and Retry-After waits, so a pass that waits is not taken for
	// one that hangs.
	Liveness licensing.Liveness
}

// Result is what a finished pass reports.
type Result struct {
	Run       RunInfo
	Summary   Summary
	ReportDir string
	// Writes is how many changes the target applied.
	Writes int
	// decided holds the ids an incremental pass decided: those the source
	// read and those healing fed.
	decided map[string]bool
}

// NewRunID returns a sortable, unique pass id.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Execute runs one pass, or one move when o.Move is set, in three stages:
// read the users and screen them, decide them into a Plan, then apply the
// plan (or, in plan mode, only report it) and record every decision.
// Per-user failures are decisions, not errors: an error means the pass
// could not complete, and the checkpoint stays where it was. The caller
// holds the instance lock (Lock) of the store: a pass removes what a
// killed one left in the work folder and the report folders.
func Execute(ctx context.Context, o Options) (res *Result, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Export != nil && o.Mode == Apply {
		return nil, errors.New("pass: a plan is either applied or exported, not both")
	}
	ctx = licensing.WithLiveness(ctx, &o.Progress.Liveness)
	start := o.Now()
	run := RunInfo{ID: o.RunID, Mode: o.runMode(), Started: start, Status: "running"}
	if run.ID == "" {
		run.ID = NewRunID(start)
	}
	since := ""
	if !o.Full && o.Move == nil {
		if since, err = o.Store.Checkpoint(ctx, o.SourceKey); err != nil {
			return nil, err
		}
	}
	run.Full = since == ""
	if err := o.Store.beginRun(ctx, run); err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	sum := newSummary()
	defer func() {
		if err != nil {
			run.Status = "failed"
			if ctx.Err() != nil {
				run.Status = "interrupted"
			}
			run.Ended = o.Now()
			sum.Elapsed = run.Ended.Sub(start).Seconds()
			run.Summary = sum
			// A fresh context: the pass's may be cancelled, the record must land.
			_ = o.Store.endRun(context.Background(), run)
		}
	}()

	work := o.Store.workDir()
	root := o.ReportDir
	if o.ExactReportDir != "" || o.Move != nil {
		// latest/ is the passes' latest report: a move's stays in its own folder.
		root = ""
	}
	if err := prepareWork(work, root, o.Log); err != nil {
		return nil, err
	}

	if o.Move == nil {
		// The directory streams in while the snapshot loads.
		ahead := readAhead(ctx, o.Source, since, &o.Progress.Read)
		defer ahead.stop()
		o.Source = ahead
	}
	org, err := o.Target.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("target snapshot: %w", err)
	}
	o.Policy = withInventory(o.Policy, org)

	dir := o.ExactReportDir
	if dir == "" {
		dir = filepath.Join(o.ReportDir, run.ID)
	}
	rep, err := newReportFiles(dir, work, run.ID)
	if err != nil {
		return nil, err
	}
	defer rep.close()
	rec := &recorder{o: &o, rep: rep, sum: &sum, runID: run.ID}

	// Stages 1 and 2: sources → rules → plan. The whole pass is decided
	// before anything is written, so the removals guard judges it whole.
	var plan *Plan
	read := readResult{full: true}
	if o.Move != nil {
		plan, err = planMove(ctx, &o, org, work, run.ID)
	} else {
		plan, read, err = planPass(ctx, &o, org, since, work, run.ID, start, rec)
	}
	defer plan.close()
	if err != nil {
		return nil, err
	}
	run.Full = read.full
	refusal := ""
	if plan.Refusal != nil {
		if o.Mode == Apply {
			return nil, plan.Refusal
		}
		refusal = refusalReason(o.Policy.Removals)
		sum.Refusal = plan.Refusal.Error()
		o.Log.Warn("plan: run would refuse this pass", zap.Int("removing", plan.Removing), zap.Int("users", plan.Users), zap.String("why", refusal))
	}
	sum.Removals = plan.Removing
	if o.Export != nil {
		if err := o.Export(plan); err != nil {
			return nil, err
		}
	}

	// Stage 3: apply the plan and record, in batches.
	writes, err := applyAll(ctx, &o, plan, rec, refusal)
	if err != nil {
		return nil, err
	}

	// The reports are complete and in place before the checkpoint moves: a
	// pass that cannot write them leaves it where it was.
	run.Status = "succeeded"
	run.Ended = o.Now()
	sum.Elapsed = run.Ended.Sub(start).Seconds()
	run.Summary = sum
	if err := rep.finish(run, sum); err != nil {
		return nil, err
	}
	if root != "" {
		if err := publishLatest(dir, root, run.ID); err != nil {
			return nil, err
		}
	}
	source := ""
	if o.recordsLatest() {
		switch {
		case read.full && read.tally.unreadable > 0:
			// A record that could not be read may be any user's: whoever
			// seems to have left the directory may be in it.
			o.Log.Warn("no user is forgotten this pass: the source could not read every record",
				zap.Int("unreadable", read.tally.unreadable), zap.String("first", read.tally.firstUnreadable))
		case read.full:
			gone, err := o.Store.forget(ctx, run.ID)
			if err != nil {
				return nil, err
			}
			if gone > 0 {
				o.Log.Info("users left the directory", zap.Int64("users", gone))
			}
		}
		source = o.SourceKey
	}
	if err := o.Store.succeed(ctx, run, source, read.next); err != nil {
		return nil, err
	}
	res = &Result{Run: run, Summary: sum, ReportDir: dir, Writes: writes}
	if !read.full && o.heal != nil {
		res.decided = o.heal.read
	}
	return res, nil
}

// runMode is the mode the history shows.
func (o *Options) runMode() string {
	if o.Move == nil {
		return string(o.Mode)
	}
	if o.Mode == Apply {
		return "move"
	}
	return "move-plan"
}

// readResult is what reading the source tells the end of the pass.
type readResult struct {
	// next is the checkpoint to store; full is set when the source read
	// the whole directory.
	next  string
	full  bool
	tally screenTally
}

// planPass makes a pass's plan in two stages: read every user from the
// source and screen them on all cores, spilling the screened users and
// counting who claims which number and which id and email; then look
// people up and decide every user into the plan. A pass that only plans
// records, with rec, what the removals guard cannot change while it
// decides.
func planPass(ctx context.Context, o *Options, org *licensing.Org, since, work, runID string, start time.Time, rec *recorder) (*Plan, readResult, error) {
	var read readResult
	spill, err := os.CreateTemp(work, "licensync-pass-*")
	if err != nil {
		return nil, read, fmt.Errorf("pass: spill file: %w", err)
	}
	defer os.Remove(spill.Name())
	defer spill.Close()

	// Stage 1: read and screen every user, counting who claims which number.
	claims := &claimCounts{}
	seen := map[string]bool{}
	if since != "" {
		o.heal = &healer{policy: o.Policy, org: org, store: o.Store, now: start, log: o.Log, read: map[string]bool{}, fed: map[string]healing{}}
		o.Source = healingSource{Source: o.Source, h: o.heal, read: &o.Progress.Read}
	}
	next, full, n, err := screenAll(ctx, o, since, spill, claims, seen, &read.tally)
	if err != nil {
		return nil, read, err
	}
	read.next, read.full = next, full
	if !full {
		if err := o.Store.claims(ctx, seen, claims); err != nil {
			return nil, read, err
		}
		if err := o.Store.emails(ctx, seen, read.tally.emails, &read.tally.keys); err != nil {
			return nil, read, err
		}
	}
	read.tally.keys.settle()
	claims.settle()
	seen = nil
	o.Log.Debug("source read", zap.Int("users", n), zap.Bool("full", full))
	if p, ok := o.Target.(LookupPlanner); ok {
		p.ExpectLookups(read.tally.lookups)
	}

	// Stage 2: decide every user into the plan.
	plan, err := newPlan(work, runID, org)
	if err != nil {
		return nil, read, err
	}
	if err := decideAll(ctx, o, org, spill, claims, &read.tally.keys, plan, rec); err != nil {
		plan.close()
		return nil, read, err
	}
	if err := plan.seal(o.Policy.Removals); err != nil {
		plan.close()
		return nil, read, err
	}
	return plan, read, nil
}

// withInventory returns a copy of p whose screening takes the numbers of
// org's inventory as valid when a directory writes them in E.164, without
// parsing them. Screening ends before the first Reserve changes the
// inventory, so the workers only ever read it.
func withInventory(p *licensing.Policy, org *licensing.Org) *licensing.Policy {
	q := *p
	q.Inventory = org.Numbers.Has
	return &q
}

// screenTally is what screening learns about the records read as a whole.
type screenTally struct {
	// unreadable counts the records the source could not read whole;
	// firstUnreadable is the first one's id and problem, for the log.
	unreadable      int
	firstUnreadable string
	// keys counts the records per id and per email.
	keys recordKeys
	// lookups counts the users whose person the target is asked for.
	lookups int
	// emails holds, in an incremental pass, the emails of the records
	// read (as normEmail writes them), whose stored holders count too.
	emails []string
}

// screenAll streams the source in chunks, screens each chunk on all workers
// and spills the screened users, in source order, to w.
func screenAll(ctx context.Context, o *Options, since string, w io.Writer, claims *claimCounts, seen map[string]bool, tally *screenTally) (next string, full bool, n int, err error) {
	enc := newSpillWriter(w)
	const chunk = 2048
	buf := make([]licensing.DirectoryUser, 0, chunk)
	out := make([]licensing.Screened, chunk)
	incremental := since != ""
	flush := func() error {
		screenParallel(o.Policy, buf, out[:len(buf)], o.Workers)
		for i := range buf {
			s := &out[i]
			if s.Early == nil && !s.User.Removed {
				claims.add(s.E164)
				tally.lookups++
			}
			if !s.User.Removed {
				tally.keys.add(&s.User)
				if incremental {
					tally.emails = append(tally.emails, normEmail(s.User.Email))
				}
			}
			if s.User.Unreadable != "" {
				if tally.unreadable == 0 {
					tally.firstUnreadable = s.User.ID + ": " + s.User.Unreadable
				}
				tally.unreadable++
			}
			if err := enc.screened(s); err != nil {
				return err
			}
			out[i] = licensing.Screened{}
		}
		n += len(buf)
		buf = buf[:0]
		return nil
	}
	next, full, err = o.Source.Users(ctx, since, func(u licensing.DirectoryUser) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if incremental {
			seen[u.ID] = true
		}
		buf = append(buf, u)
		if len(buf) == chunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return "", false, 0, fmt.Errorf("source: %w", err)
	}
	if err := flush(); err != nil {
		return "", false, 0, err
	}
	if err := enc.flush(); err != nil {
		return "", false, 0, err
	}
	return next, full, n, nil
}

func screenParallel(p *licensing.Policy, in []licensing.DirectoryUser, out []licensing.Screened, workers int) {
	if len(in) < 64 || workers == 1 {
		for i := range in {
			out[i] = p.Screen(in[i])
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(in) + workers - 1) / workers
	for lo := 0; lo < len(in); lo += per {
		hi := min(lo+per, len(in))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i] = p.Screen(in[i])
			}
		})
	}
	wg.Wait()
}

// needsPerson reports whether the decision for s needs its Webex person:
// the checks that need only the directory passed.
func needsPerson(s *licensing.Screened, keys *recordKeys) bool {
	return s.Early == nil && !s.User.Removed && !keys.shared(&s.User)
}

// lookup is one batch and the people its emails found.
type lookup struct {
	batch  []licensing.Screened
	people map[string]licensing.Person
	// failed are the emails whose look-up failed; err is set when the
	// look-up failed as a whole.
	failed licensing.LookupErrors
	err    error
}

// lookUp looks up the people of a batch's users who need one.
func lookUp(ctx context.Context, o *Options, batch []licensing.Screened, keys *recordKeys) *lookup {
	l := &lookup{batch: batch}
	if err := ctx.Err(); err != nil {
		l.err = err
		return l
	}
	var emails []string
	for i := range batch {
		if needsPerson(&batch[i], keys) {
			emails = append(emails, batch[i].User.Email)
		}
	}
	var err error
	l.people, err = o.Target.People(ctx, emails)
	if !errors.As(err, &l.failed) && err != nil {
		l.err = fmt.Errorf("target people: %w", err)
	}
	return l
}

// decideAll reads the screened spill back and decides every user in
// batches into the plan, the next batches' look-ups running ahead.
// Nothing is written to the target, and memory holds at most
// batchesAhead batches. A pass that only plans records its decisions with
// rec as they are taken, up to the plan's first removal: the guard's
// verdict changes only what the report says of a removal, and only the
// guard's verdict needs the whole plan.
func decideAll(ctx context.Context, o *Options, org *licensing.Org, spill *os.File, claims *claimCounts, keys *recordKeys, plan *Plan, rec *recorder) error {
	if _, err := spill.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("pass: spill: %w", err)
	}
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	var lookups ahead[*lookup]
	var early *earlyRecorder
	if o.Mode != Apply {
		early = startEarly(outer, rec, cancel)
		plan.early = true
	}
	defer func() {
		cancel()
		lookups.wait()
		early.stop()
	}()
	// failedInARow counts the look-ups that failed in a row, in decision
	// order, across batches.
	failedInARow := 0
	decide := func(l *lookup) error {
		if l.err != nil {
			return l.err
		}
		entries, err := decideBatch(o, org, l, claims, keys, &failedInARow, plan)
		if err != nil {
			return err
		}
		early.take(entries, plan)
		return nil
	}
	err := eachBatch(o.BatchSize, newSpillReader(spill).screened, func(batch []licensing.Screened) error {
		return lookups.start(func() *lookup { return lookUp(ctx, o, batch, keys) }, decide)
	})
	if err == nil {
		err = lookups.finish(decide)
	}
	if early != nil {
		if recErr := early.stop(); recErr != nil {
			return recErr
		}
	}
	return err
}

// decideBatch decides a looked-up batch in order into the plan, reserving
// what each change takes, and returns the batch's entries. A user whose
// look-up failed fails with API_ERROR; after licensing.LookupsDown such
// failures in a row the pass stops.
func decideBatch(o *Options, org *licensing.Org, l *lookup, claims *claimCounts, keys *recordKeys, failedInARow *int, plan *Plan) ([]PlanEntry, error) {
	batch := l.batch
	entries := make([]PlanEntry, len(batch))
	for i := range batch {
		s := &batch[i]
		rec := &entries[i]
		rec.User = s.User
		if !s.User.Removed {
			var lookupErr error
			if needsPerson(s, keys) {
				lookupErr = l.failed[strings.ToLower(strings.TrimSpace(s.User.Email))]
				*failedInARow++
				if lookupErr == nil {
					*failedInARow = 0
				}
				if *failedInARow >= licensing.LookupsDown {
					return nil, fmt.Errorf("target people: %d look-ups in a row failed, the target looks down; the last: %w", *failedInARow, lookupErr)
				}
			}
			if lookupErr != nil {
				rec.Decision = licensing.Decision{Outcome: licensing.Failed, Cause: licensing.CauseAPIError, E164: s.E164,
					Template: o.Policy.Templates[s.Template].Name, Detail: "looking up the Webex person failed: " + lookupErr.Error()}
			} else {
				f := licensing.Facts{Claimants: claims.of(s.E164), SameID: keys.sameID(&s.User), SameEmail: keys.sameEmail(&s.User)}
				if p, ok := l.people[strings.ToLower(s.User.Email)]; ok {
					f.Person = &p
				}
				rec.Decision = o.Policy.Decide(*s, f, org)
				if rec.Decision.Change != nil && f.Person != nil {
					rec.Holds = f.Person.Licences
				}
			}
			if c := rec.Decision.Change; c != nil {
				org.Reserve(*c)
			}
			o.Progress.Decided.Add(1)
		}
		if err := plan.add(rec); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// earlyRecorder records, in the background while a pass that only plans
// goes on deciding, the decisions before the plan's first removal.
type earlyRecorder struct {
	batches chan []PlanEntry
	done    chan error
	stopped bool
	err     error
}

// startEarly starts recording with rec. A recording that fails cancels the
// deciding.
func startEarly(ctx context.Context, rec *recorder, cancel context.CancelFunc) *earlyRecorder {
	e := &earlyRecorder{batches: make(chan []PlanEntry, batchesAhead), done: make(chan error, 1)}
	go func() {
		var err error
		for b := range e.batches {
			if err == nil {
				if err = rec.record(ctx, b); err != nil {
					cancel()
				}
			}
		}
		e.done <- err
	}()
	return e
}

// take hands on the entries of a batch just added to plan that come before
// the plan's first removal.
func (e *earlyRecorder) take(entries []PlanEntry, plan *Plan) {
	if e == nil || e.stopped {
		return
	}
	first := plan.n - len(entries)
	if k := plan.settled() - first; k < len(entries) {
		entries = entries[:max(k, 0)]
	}
	if len(entries) > 0 {
		e.batches <- entries
	}
}

// stop waits for what was handed on to be recorded, and returns the first
// error. It may be called again.
func (e *earlyRecorder) stop() error {
	if e == nil {
		return nil
	}
	if !e.stopped {
		e.stopped = true
		close(e.batches)
		e.err = <-e.done
	}
	return e.err
}

// application is one batch applied: what it wrote, and the error that
// stopped the target, if any.
type application struct {
	batch  []PlanEntry
	writes int
	fatal  error
	// unsent is set when the pass stopped before the batch reached the
	// target: its decisions are not outcomes and are not recorded.
	unsent bool
}

func applyOne(ctx context.Context, o *Options, batch []PlanEntry) *application {
	a := &application{batch: batch}
	if o.Mode == Apply {
		if err := ctx.Err(); err != nil {
			a.fatal, a.unsent = err, true
			return a
		}
		// A replica that lost its lease sends the target nothing more.
		if err := o.Store.CheckFence(ctx); err != nil {
			a.fatal, a.unsent = err, true
			return a
		}
	}
	a.writes, a.fatal = applyBatch(ctx, o, batch)
	return a
}

// applyAll applies the plan and records each batch in order, after its
// writes, the next batches' writes running ahead; what the deciding
// already recorded is skipped. refusal, set only in plan mode, is why run
// would refuse the removals; it is added to the detail of each user who
// would lose a licence.
func applyAll(ctx context.Context, o *Options, plan *Plan, rec *recorder, refusal string) (writes int, err error) {
	var applies ahead[*application]
	defer applies.wait()
	recordOne := func(a *application) error {
		writes += a.writes
		if a.unsent {
			return nil
		}
		return rec.record(ctx, a.batch)
	}
	// recordNext records the oldest batch. After a fatal error the batches
	// still applying are waited for and recorded too: what landed is never
	// lost.
	recordNext := func(a *application) error {
		if err := recordOne(a); err != nil {
			return err
		}
		if a.fatal == nil {
			return nil
		}
		if err := applies.finish(recordOne); err != nil {
			return err
		}
		if a.unsent {
			return a.fatal
		}
		return fmt.Errorf("target apply: %w", a.fatal)
	}
	err = plan.eachUnrecorded(o.BatchSize, func(batch []PlanEntry) error {
		if refusal != "" {
			for i := range batch {
				if batch[i].removes() {
					batch[i].Decision.Detail += " (run would refuse: " + refusal + ")"
				}
			}
		}
		return applies.start(func() *application { return applyOne(ctx, o, batch) }, recordNext)
	})
	if err != nil {
		return writes, err
	}
	return writes, applies.finish(recordNext)
}

// applyBatch applies a batch's changes (in run mode) and turns each
// decision into what happened: PROVISIONED only for a change the target
// answered nil for, which a target gives only for a change it made. A
// non-nil error means the target can take no more writes; the outcomes are
// set either way.
func applyBatch(ctx context.Context, o *Options, batch []PlanEntry) (int, error) {
	var changes []licensing.Change
	var changeAt []int
	var spaces []licensing.WorkspaceChange
	var spaceAt []int
	for i := range batch {
		if c := batch[i].Decision.Change; c != nil {
			changes = append(changes, *c)
			changeAt = append(changeAt, i)
		}
		if w := batch[i].Workspace; w != nil {
			spaces = append(spaces, *w)
			spaceAt = append(spaceAt, i)
		}
	}
	if o.Mode != Apply || len(changes)+len(spaces) == 0 {
		return 0, nil
	}
	writes := 0
	var errs []error
	var fatal error
	if len(changes) > 0 {
		errs, fatal = o.Target.Apply(ctx, changes)
	}
	for k, i := range changeAt {
		writes += settle(o, &batch[i].Decision, errs, k, fatal)
	}
	// A move's workspaces go after its people, through the target's
	// workspace side, once the people's writes left the target able to
	// take more.
	errs = nil
	if fatal == nil && len(spaces) > 0 {
		mover, ok := o.Target.(workspaceMover)
		if !ok {
			return writes, errors.New("the target cannot move workspaces")
		}
		errs, fatal = mover.ApplyWorkspaces(ctx, spaces)
	}
	for k, i := range spaceAt {
		writes += settle(o, &batch[i].Decision, errs, k, fatal)
		batch[i].Workspace = nil
	}
	return writes, fatal
}

// settle sets on d what applying its change did: errs[k], or the
// pass-level error when the target stopped before answering it. It returns
// 1 for a change the target made.
func settle(o *Options, d *licensing.Decision, errs []error, k int, fatal error) int {
	var e error
	switch {
	case k < len(errs):
		e = errs[k]
	case fatal != nil:
		e = fatal
	default:
		// No answer is no confirmation: the change may not have landed.
		e = errors.New("the target gave no answer for this change; not confirmed applied")
	}
	d.Change = nil
	switch ae := (*licensing.ApplyError)(nil); {
	case e == nil:
		d.Outcome = licensing.Provisioned
		o.Progress.Applied.Add(1)
		return 1
	case errors.As(e, &ae):
		d.Outcome, d.Cause, d.Detail = licensing.Failed, ae.Cause, ae.Error()
	default:
		d.Outcome, d.Cause, d.Detail = licensing.Failed, licensing.CauseAPIError, e.Error()
	}
	return 0
}

// recorder records decided batches, in order, into the pass's reports,
// its summary and the state store.
type recorder struct {
	o     *Options
	rep   *reportFiles
	sum   *Summary
	runID string
	// seq numbers the pass's failures.
	seq int
}

func (r *recorder) record(ctx context.Context, batch []PlanEntry) error {
	o := r.o
	b, err := o.Store.begin(ctx)
	if err != nil {
		return err
	}
	defer b.tx.Rollback()
	for i := range batch {
		u := &batch[i].User
		if u.Removed {
			if o.recordsLatest() {
				if err := b.exec(ctx, forgetUser, u.ID); err != nil {
					return err
				}
			}
			continue
		}
		row := rowFor(u, &batch[i].Decision)
		// The pass's report says how long a healed user's failure has
		// stood; the latest decision keeps the detail as decided.
		shown := row
		shown.Detail += o.heal.ageNote(&row)
		r.sum.add(&shown)
		if err := r.rep.add(&shown); err != nil {
			return err
		}
		if o.recordsLatest() {
			if err := b.latestOf(ctx, &row, u, r.runID, o.Now()); err != nil {
				return err
			}
		}
		if row.Outcome == string(licensing.Failed) {
			r.seq++
			if err := b.failure(ctx, r.runID, r.seq, &shown); err != nil {
				return err
			}
		}
	}
	return b.commit(ctx)
}

// recordsLatest reports whether the pass records each user's latest
// decision: a pass that applies does; a move, whose rows are people and
// workspaces rather than directory users, records only its run.
func (o *Options) recordsLatest() bool { return o.Mode == Apply && o.Move == nil }

// refusalReason is the short form of a removals refusal that the plan adds
// to each user's detail.
func refusalReason(r licensing.Removals) string {
	if !r.Acknowledge {
		return "removals.acknowledge is false"
	}
	if r.MaxFraction == 0 {
		return "removals.max_fraction is 0, which allows none"
	}
	return fmt.Sprintf("over removals.max_fraction %g", r.MaxFraction)
}
