package sync

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// Mode says whether a pass applies its decisions.
type Mode string

// The pass modes.
const (
	// Plan decides and reports; it touches nothing in the target.
	Plan Mode = "plan"
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

// Execute runs one pass. Per-user failures are decisions, not errors: an
// error means the pass could not complete, and the checkpoint stays where
// it was. The caller holds the instance lock (Lock) of the store: a pass
// removes what a killed one left in the work folder and the report
// folders.
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
	ctx = licensing.WithLiveness(ctx, &o.Progress.Liveness)
	start := o.Now()
	run := RunInfo{ID: o.RunID, Mode: string(o.Mode), Started: start, Status: "running"}
	if run.ID == "" {
		run.ID = NewRunID(start)
	}
	since := ""
	if !o.Full {
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
	if o.ExactReportDir != "" {
		root = ""
	}
	if err := prepareWork(work, root, o.Log); err != nil {
		return nil, err
	}

	org, err := o.Target.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("target snapshot: %w", err)
	}
	spill, err := os.CreateTemp(work, "licensync-pass-*")
	if err != nil {
		return nil, fmt.Errorf("pass: spill file: %w", err)
	}
	defer os.Remove(spill.Name())
	defer spill.Close()

	// Stage 1: read and screen every user, counting who claims which number.
	claims := claimCounts{}
	seen := map[string]bool{}
	if since != "" {
		o.heal = &healer{policy: o.Policy, org: org, store: o.Store, now: start, log: o.Log, read: map[string]bool{}, fed: map[string]healing{}}
		o.Source = healingSource{Source: o.Source, h: o.heal}
	}
	tally := &screenTally{}
	next, full, n, err := screenAll(ctx, &o, since, spill, claims, seen, tally)
	if err != nil {
		return nil, err
	}
	run.Full = full
	if !full {
		if err := o.Store.claims(ctx, seen, claims); err != nil {
			return nil, err
		}
		if err := o.Store.emails(ctx, seen, &tally.keys); err != nil {
			return nil, err
		}
	}
	tally.keys.settle()
	seen = nil
	o.Log.Debug("source read", zap.Int("users", n), zap.Bool("full", full))
	if p, ok := o.Target.(LookupPlanner); ok {
		p.ExpectLookups(tally.lookups)
	}

	// Stage 2: decide every user, spilling the decisions, so the removals
	// guard sees the whole pass before anything is written.
	decisions, err := os.CreateTemp(work, "licensync-decided-*")
	if err != nil {
		return nil, fmt.Errorf("pass: spill file: %w", err)
	}
	defer os.Remove(decisions.Name())
	defer decisions.Close()
	users, removing, err := decideAll(ctx, &o, org, spill, claims, &tally.keys, decisions)
	if err != nil {
		return nil, err
	}
	refusal := ""
	if err := o.Policy.Removals.Allow(removing, users); err != nil {
		if o.Mode == Apply {
			return nil, err
		}
		refusal = refusalReason(o.Policy.Removals)
		sum.Refusal = err.Error()
		o.Log.Warn("plan: run would refuse this pass", zap.Int("removing", removing), zap.Int("users", users), zap.String("why", refusal))
	}
	sum.Removals = removing

	// Stage 3: apply and record in batches.
	dir := o.ExactReportDir
	if dir == "" {
		dir = filepath.Join(o.ReportDir, run.ID)
	}
	rep, err := newReportFiles(dir, work, run.ID)
	if err != nil {
		return nil, err
	}
	defer rep.close()
	writes, err := applyAll(ctx, &o, decisions, rep, &sum, run.ID, refusal)
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
	if o.Mode == Apply {
		switch {
		case full && tally.unreadable > 0:
			// A record that could not be read may be any user's: whoever
			// seems to have left the directory may be in it.
			o.Log.Warn("no user is forgotten this pass: the source could not read every record",
				zap.Int("unreadable", tally.unreadable), zap.String("first", tally.firstUnreadable))
		case full:
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
	if err := o.Store.succeed(ctx, run, source, next); err != nil {
		return nil, err
	}
	res = &Result{Run: run, Summary: sum, ReportDir: dir, Writes: writes}
	if !full && o.heal != nil {
		res.decided = o.heal.read
	}
	return res, nil
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
}

// screenAll streams the source in chunks, screens each chunk on all workers
// and spills the screened users, in source order, to w.
func screenAll(ctx context.Context, o *Options, since string, w io.Writer, claims claimCounts, seen map[string]bool, tally *screenTally) (next string, full bool, n int, err error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := gob.NewEncoder(bw)
	const chunk = 2048
	buf := make([]licensing.DirectoryUser, 0, chunk)
	out := make([]licensing.Screened, chunk)
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
			}
			if s.User.Unreadable != "" {
				if tally.unreadable == 0 {
					tally.firstUnreadable = s.User.ID + ": " + s.User.Unreadable
				}
				tally.unreadable++
			}
			if err := enc.Encode(s); err != nil {
				return fmt.Errorf("pass: spill: %w", err)
			}
			out[i] = licensing.Screened{}
		}
		n += len(buf)
		buf = buf[:0]
		return nil
	}
	incremental := since != ""
	next, full, err = o.Source.Users(ctx, since, func(u licensing.DirectoryUser) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		o.Progress.Read.Add(1)
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
	if err := bw.Flush(); err != nil {
		return "", false, 0, fmt.Errorf("pass: spill: %w", err)
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
	var wg gosync.WaitGroup
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

// decided is one user after the decision, as the second spill keeps it
// between deciding and applying.
type decided struct {
	User     licensing.DirectoryUser
	Decision licensing.Decision
}

// lookupsAhead is how many batches' people lookups may be in flight at
// once. A batch's lookups end with its slowest, often one waiting out a
// Retry-After; with the next batch's lookups already going, the target's
// allowed rate is not left idle in the meantime. Decisions still happen
// one batch after the other, in order.
const lookupsAhead = 2

// lookup is one batch and the people its emails found, once done is closed.
type lookup struct {
	batch  []licensing.Screened
	people map[string]licensing.Person
	// failed are the emails whose look-up failed; err is set when the
	// look-up failed as a whole.
	failed licensing.LookupErrors
	err    error
	done   chan struct{}
}

// needsPerson reports whether the decision for s needs its Webex person:
// the checks that need only the directory passed.
func needsPerson(s *licensing.Screened, keys *recordKeys) bool {
	return s.Early == nil && !s.User.Removed && !keys.shared(&s.User)
}

func startLookup(ctx context.Context, o *Options, batch []licensing.Screened, keys *recordKeys) *lookup {
	l := &lookup{batch: batch, done: make(chan struct{})}
	var emails []string
	for i := range batch {
		if needsPerson(&batch[i], keys) {
			emails = append(emails, batch[i].User.Email)
		}
	}
	go func() {
		defer close(l.done)
		if err := ctx.Err(); err != nil {
			l.err = err
			return
		}
		var err error
		l.people, err = o.Target.People(ctx, emails)
		if !errors.As(err, &l.failed) && err != nil {
			l.err = fmt.Errorf("target people: %w", err)
		}
	}()
	return l
}

// decideAll reads the screened spill back and decides every user in
// batches, spilling the decisions to a second file. Nothing is written to
// the target: the whole pass is decided first, so the removals guard knows
// how many users would lose a licence before the first write, while memory
// holds at most lookupsAhead batches.
func decideAll(ctx context.Context, o *Options, org *licensing.Org, spill *os.File, claims claimCounts, keys *recordKeys, out io.Writer) (users, removing int, err error) {
	if _, err := spill.Seek(0, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("pass: spill: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var queue []*lookup
	defer func() {
		cancel()
		for _, l := range queue {
			<-l.done
		}
	}()
	dec := gob.NewDecoder(bufio.NewReaderSize(spill, 1<<16))
	bw := bufio.NewWriterSize(out, 1<<16)
	enc := gob.NewEncoder(bw)
	// failedInARow counts the look-ups that failed in a row, in decision
	// order, across batches.
	failedInARow := 0
	decideHead := func() error {
		l := queue[0]
		<-l.done
		queue = queue[1:]
		if l.err != nil {
			return l.err
		}
		n, r, err := decideBatch(o, org, l, claims, keys, &failedInARow, enc)
		users += n
		removing += r
		return err
	}
	batch := make([]licensing.Screened, 0, o.BatchSize)
	for {
		var s licensing.Screened
		err := dec.Decode(&s)
		if err != nil && !errors.Is(err, io.EOF) {
			return users, removing, fmt.Errorf("pass: spill: %w", err)
		}
		if err == nil {
			batch = append(batch, s)
		}
		if len(batch) == o.BatchSize || (errors.Is(err, io.EOF) && len(batch) > 0) {
			if len(queue) == lookupsAhead {
				if err := decideHead(); err != nil {
					return users, removing, err
				}
			}
			queue = append(queue, startLookup(ctx, o, batch, keys))
			batch = make([]licensing.Screened, 0, o.BatchSize)
		}
		if errors.Is(err, io.EOF) {
			for len(queue) > 0 {
				if err := decideHead(); err != nil {
					return users, removing, err
				}
			}
			if err := bw.Flush(); err != nil {
				return users, removing, fmt.Errorf("pass: spill: %w", err)
			}
			return users, removing, nil
		}
	}
}

// decideBatch decides a looked-up batch in order, reserving what each
// change takes. A user whose look-up failed fails with API_ERROR; after
// licensing.LookupsDown such failures in a row the pass stops.
func decideBatch(o *Options, org *licensing.Org, l *lookup, claims claimCounts, keys *recordKeys, failedInARow *int, enc *gob.Encoder) (users, removing int, err error) {
	batch := l.batch
	for i := range batch {
		s := &batch[i]
		rec := decided{User: s.User}
		if !s.User.Removed {
			var lookupErr error
			if needsPerson(s, keys) {
				lookupErr = l.failed[strings.ToLower(strings.TrimSpace(s.User.Email))]
				*failedInARow++
				if lookupErr == nil {
					*failedInARow = 0
				}
				if *failedInARow >= licensing.LookupsDown {
					return users, removing, fmt.Errorf("target people: %d look-ups in a row failed, the target looks down; the last: %w", *failedInARow, lookupErr)
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
			}
			if c := rec.Decision.Change; c != nil {
				org.Reserve(*c)
				if len(c.Remove) > 0 {
					removing++
				}
			}
			users++
			o.Progress.Decided.Add(1)
		}
		if err := enc.Encode(&rec); err != nil {
			return users, removing, fmt.Errorf("pass: spill: %w", err)
		}
	}
	return users, removing, nil
}

// appliesAhead is how many batches may be applying at once, for the same
// reason as lookupsAhead: a batch's last write waiting out a Retry-After
// must not hold the next batch back. Batches are still recorded in order,
// each after its writes.
const appliesAhead = 2

// application is one batch being applied; writes and fatal are set once
// done is closed.
type application struct {
	batch  []decided
	writes int
	fatal  error
	// unsent is set when the pass stopped before the batch reached the
	// target: its decisions are not outcomes and are not recorded.
	unsent bool
	done   chan struct{}
}

func startApply(ctx context.Context, o *Options, batch []decided) *application {
	a := &application{batch: batch, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		if o.Mode == Apply {
			if err := ctx.Err(); err != nil {
				a.fatal, a.unsent = err, true
				return
			}
		}
		a.writes, a.fatal = applyBatch(ctx, o, batch)
	}()
	return a
}

// applyAll reads the decisions back and applies and records them in
// batches. refusal, set only in plan mode, is why run would refuse the
// removals; it is added to the detail of each user who would lose a licence.
func applyAll(ctx context.Context, o *Options, spill *os.File, rep *reportFiles, sum *Summary, runID string, refusal string) (writes int, err error) {
	if _, err := spill.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("pass: spill: %w", err)
	}
	var queue []*application
	seq := 0
	// recordHead waits for the oldest batch and records it. After a fatal
	// error the batches still applying are waited for and recorded too:
	// what landed is never lost.
	finish := func(a *application) error {
		<-a.done
		writes += a.writes
		if a.unsent {
			return nil
		}
		return record(ctx, o, a.batch, rep, sum, runID, &seq)
	}
	recordHead := func() error {
		a := queue[0]
		queue = queue[1:]
		if err := finish(a); err != nil {
			return err
		}
		if a.fatal != nil {
			for len(queue) > 0 {
				b := queue[0]
				queue = queue[1:]
				if err := finish(b); err != nil {
					return err
				}
			}
			if a.unsent {
				return a.fatal
			}
			return fmt.Errorf("target apply: %w", a.fatal)
		}
		return nil
	}
	defer func() {
		for _, a := range queue {
			<-a.done
		}
	}()
	dec := gob.NewDecoder(bufio.NewReaderSize(spill, 1<<16))
	batch := make([]decided, 0, o.BatchSize)
	for {
		var d decided
		err := dec.Decode(&d)
		if err != nil && !errors.Is(err, io.EOF) {
			return writes, fmt.Errorf("pass: spill: %w", err)
		}
		if err == nil {
			if c := d.Decision.Change; c != nil && len(c.Remove) > 0 && refusal != "" {
				d.Decision.Detail += " (run would refuse: " + refusal + ")"
			}
			batch = append(batch, d)
		}
		if len(batch) == o.BatchSize || (errors.Is(err, io.EOF) && len(batch) > 0) {
			if len(queue) == appliesAhead {
				if err := recordHead(); err != nil {
					return writes, err
				}
			}
			queue = append(queue, startApply(ctx, o, batch))
			batch = make([]decided, 0, o.BatchSize)
		}
		if errors.Is(err, io.EOF) {
			for len(queue) > 0 {
				if err := recordHead(); err != nil {
					return writes, err
				}
			}
			return writes, nil
		}
	}
}

// applyBatch applies a batch's changes (in run mode) and turns each
// decision into what happened: PROVISIONED only for a change the target
// answered nil for, which a target gives only for a change it made. A
// non-nil error means the target can take no more writes; the outcomes are
// set either way.
func applyBatch(ctx context.Context, o *Options, batch []decided) (int, error) {
	var changes []licensing.Change
	var changeAt []int
	for i := range batch {
		if c := batch[i].Decision.Change; c != nil {
			changes = append(changes, *c)
			changeAt = append(changeAt, i)
		}
	}
	if o.Mode != Apply || len(changes) == 0 {
		return 0, nil
	}
	writes := 0
	errs, fatal := o.Target.Apply(ctx, changes)
	for k, i := range changeAt {
		d := &batch[i].Decision
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
		switch ae := (*licensing.ApplyError)(nil); {
		case e == nil:
			d.Outcome = licensing.Provisioned
			writes++
			o.Progress.Applied.Add(1)
		case errors.As(e, &ae):
			d.Outcome, d.Cause, d.Detail = licensing.Failed, ae.Cause, ae.Error()
		default:
			d.Outcome, d.Cause, d.Detail = licensing.Failed, licensing.CauseAPIError, e.Error()
		}
		d.Change = nil
	}
	return writes, fatal
}

func record(ctx context.Context, o *Options, batch []decided, rep *reportFiles, sum *Summary, runID string, seq *int) error {
	b, err := o.Store.begin(ctx)
	if err != nil {
		return err
	}
	defer b.tx.Rollback()
	for i := range batch {
		u := &batch[i].User
		if u.Removed {
			if o.Mode == Apply {
				if _, err := b.gone.ExecContext(ctx, u.ID); err != nil {
					return fmt.Errorf("state store: %w", err)
				}
			}
			continue
		}
		row := rowFor(u, &batch[i].Decision)
		// The pass's report says how long a healed user's failure has
		// stood; the latest decision keeps the detail as decided.
		shown := row
		shown.Detail += o.heal.ageNote(&row)
		sum.add(&shown)
		if err := rep.add(&shown); err != nil {
			return err
		}
		if o.Mode == Apply {
			if err := b.latestOf(ctx, &row, u, runID, o.Now()); err != nil {
				return err
			}
		}
		if row.Outcome == string(licensing.Failed) {
			*seq++
			if _, err := b.fail.ExecContext(ctx, append([]any{runID, *seq}, shown.fields()...)...); err != nil {
				return fmt.Errorf("state store: %w", err)
			}
		}
	}
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}

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

// claimCounts counts the directory users per number. It is keyed by the
// number's digits as an integer (E.164 has at most 15): half the memory of
// string keys, which matters at a million users.
type claimCounts map[uint64]int32

func claimKey(e164 string) uint64 {
	k, _ := strconv.ParseUint(strings.TrimPrefix(e164, "+"), 10, 64)
	return k
}

func (c claimCounts) add(e164 string) { c[claimKey(e164)]++ }

func (c claimCounts) of(e164 string) int { return int(c[claimKey(e164)]) }
