package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/licensync/licensync/licensing"
)

// checkWithin bounds one "check now": a snapshot of the target and one
// person look-up.
const checkWithin = 60 * time.Second

// readWithin bounds opening the source and reading the user again; past it
// the check decides on the stored record.
const readWithin = 20 * time.Second

// UserReader is a source that can read one user again by id, as a pass
// reads them, for "check now". It returns licensing.ErrUserNotFound when the
// directory no longer has the user.
type UserReader interface {
	UserByID(ctx context.Context, id string) (licensing.DirectoryUser, error)
}

// Where the record "check now" decided on came from.
const (
	// FromDirectory is a record read from the source just now.
	FromDirectory = "directory"
	// FromStore is the record the last pass stored.
	FromStore = "stored"
)

// CheckResult is "check now": the user read again from the source and
// decided again against the live target, each rule in order, nothing
// written.
type CheckResult struct {
	At time.Time `json:"at"`
	// RecordFrom is FromDirectory or FromStore; StoredBecause says why the
	// stored record was used.
	RecordFrom    string `json:"record_from"`
	StoredBecause string `json:"stored_because,omitempty"`
	// Record is the directory record decided on; nil when Gone.
	Record *licensing.DirectoryUser `json:"record,omitempty"`
	// Gone is true when the directory no longer has the user: nothing is
	// decided.
	Gone    bool              `json:"gone,omitempty"`
	Outcome licensing.Outcome `json:"outcome,omitempty"`
	Cause   licensing.Cause   `json:"cause,omitempty"`
	Detail  string            `json:"detail,omitempty"`
	Fix     string            `json:"fix,omitempty"`
	Checks  []licensing.Check `json:"checks"`
	// Same says whether the decision is the one the state store holds.
	Same bool `json:"same_as_stored"`
	// Notes say what the check could not see as a pass would.
	Notes []string `json:"notes"`
}

// storedRecordNote says what deciding on the stored record means.
const storedRecordNote = "The directory record is the one the last pass read and the state store kept: a change made in the directory since then shows only after the next pass reads it."

func (c *Console) checkNow(r *http.Request) (any, error) {
	u, err := c.loadUser(r)
	if err != nil {
		return nil, err
	}
	if c.o.Live == nil {
		return nil, &errStatus{http.StatusServiceUnavailable, "check now is not available in this service"}
	}
	select {
	case c.checking <- struct{}{}:
		defer func() { <-c.checking }()
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	ctx, cancel := context.WithTimeout(r.Context(), checkWithin)
	defer cancel()
	res := &CheckResult{At: c.o.Now(), RecordFrom: FromDirectory, Checks: []licensing.Check{}, Notes: []string{}}
	rec, err := c.readAgain(ctx, u.SourceID)
	switch {
	case errors.Is(err, licensing.ErrUserNotFound):
		res.Gone = true
		res.Notes = append(res.Notes, "The directory no longer has a user with this id, or the source's filter or scope groups leave them out: nothing was decided. The next pass that reads the user's part of the directory finds them gone.")
		u.Check = res
		return u, nil
	case err != nil:
		if !u.HasRecord {
			return nil, &errStatus{http.StatusConflict, "the directory could not be read (" + err.Error() + ") and the state store has no directory record for this user yet (it was last decided before records were kept)"}
		}
		res.RecordFrom, res.StoredBecause = FromStore, err.Error()
		res.Notes = append(res.Notes, storedRecordNote)
		rec = u.Record
	}
	res.Record = &rec
	if err := c.decideNow(ctx, u, rec, res); err != nil {
		return nil, err
	}
	u.Check = res
	return u, nil
}

// errNoReader is why a check decides on the stored record when the
// service's source cannot read one user.
var errNoReader = errors.New("this service's source cannot read one user by id")

// readAgain opens the source and reads the user with id again, closing the
// source after. An error other than licensing.ErrUserNotFound says why the
// stored record is used instead.
func (c *Console) readAgain(ctx context.Context, id string) (licensing.DirectoryUser, error) {
	if c.o.Source == nil {
		return licensing.DirectoryUser{}, errNoReader
	}
	ctx, cancel := context.WithTimeout(ctx, readWithin)
	defer cancel()
	src, err := c.o.Source(ctx)
	if err != nil {
		return licensing.DirectoryUser{}, fmt.Errorf("the directory could not be reached: %w", err)
	}
	defer src.Close()
	ur, ok := src.(UserReader)
	if !ok {
		return licensing.DirectoryUser{}, errNoReader
	}
	rec, err := ur.UserByID(ctx, id)
	if err != nil && !errors.Is(err, licensing.ErrUserNotFound) {
		return licensing.DirectoryUser{}, fmt.Errorf("the directory could not be read: %w", err)
	}
	return rec, err
}

// decideNow screens rec and decides it on a fresh snapshot of the target,
// with the facts only the whole directory gives taken from the state store.
func (c *Console) decideNow(ctx context.Context, u *User, rec licensing.DirectoryUser, res *CheckResult) error {
	policy, tgt, err := c.o.Live(ctx)
	if err != nil {
		return fmt.Errorf("check now: target: %w", err)
	}
	defer tgt.Close()
	org, err := tgt.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("check now: target snapshot: %w", err)
	}
	s := policy.Screen(rec)
	f := licensing.Facts{SameID: 1}
	f.Claimants, f.SameEmail, err = c.o.Store.Neighbours(ctx, u.SourceID, s.E164, rec.Email)
	if err != nil {
		return err
	}
	if u.Cause == string(licensing.CauseDuplicateID) {
		// The store holds one row per id: only a full read of the
		// directory tells whether the id is still shared.
		f.SameID = 2
		res.Notes = append(res.Notes, "The last pass found other directory records with this id; the state store keeps one per id, so that finding is kept until a full pass reads the directory again.")
	}
	if s.Early == nil && f.SameID < 2 && f.SameEmail < 2 {
		people, err := tgt.People(ctx, []string{rec.Email})
		var failed licensing.LookupErrors
		if errors.As(err, &failed) {
			err = failed[strings.ToLower(strings.TrimSpace(rec.Email))]
		}
		if err != nil {
			return fmt.Errorf("check now: looking up the Webex person: %w", err)
		}
		if p, ok := people[strings.ToLower(rec.Email)]; ok {
			f.Person = &p
		}
	}
	d := policy.Decide(s, f, org)
	res.Outcome, res.Cause, res.Detail = d.Outcome, d.Cause, d.Detail
	if d.Cause != "" {
		res.Fix = d.Cause.Fix()
	}
	res.Checks = licensing.Checks(f, org, d)
	res.Same = sameDecision(u.Outcome, u.Cause, d)
	return nil
}

// sameDecision tells whether a decision made now agrees with the stored
// outcome and cause: a licence a pass applied is held now.
func sameDecision(outcome, cause string, d licensing.Decision) bool {
	if licensing.Outcome(outcome) == licensing.Provisioned {
		return d.Outcome == licensing.AlreadyProvisioned
	}
	return string(d.Outcome) == outcome && string(d.Cause) == cause
}

// runID matches the pass ids (pass.NewRunID's form) whose reports the
// console serves.
var runID = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`)

// keptReports lists the report files kept for a pass.
func (c *Console) keptReports(id string) []string { return c.kept(id, reportFiles) }

// kept lists which of files a pass's report folder holds.
func (c *Console) kept(id string, files []string) []string {
	dir := c.o.ReportDir()
	if dir == "" || !runID.MatchString(id) {
		return nil
	}
	var out []string
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(dir, id, f)); err == nil && st.Mode().IsRegular() {
			out = append(out, f)
		}
	}
	return out
}

// report serves one report file of a kept pass, or the plan it exported,
// as a download.
func (c *Console) report(w http.ResponseWriter, r *http.Request) {
	id, file := r.PathValue("id"), r.PathValue("file")
	if !slices.Contains(reportFiles, file) && !slices.Contains(exportFiles, file) {
		c.fail(w, r, http.StatusNotFound, "a pass's reports are report.csv, report.json and report.html, and an exported plan's "+PlanExportFile+" and "+PlanExportNotes)
		return
	}
	if _, err := c.o.Store.Run(r.Context(), id); err != nil {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("no kept pass has id %q", id))
		return
	}
	if !slices.Contains(c.kept(id, []string{file}), file) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("the %s of pass %s is no longer kept", file, id))
		return
	}
	f, err := os.Open(filepath.Join(c.o.ReportDir(), id, file))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	ext := filepath.Ext(file)
	name := "licensync-" + id + ext
	if slices.Contains(exportFiles, file) {
		name = "licensync-" + id + "-" + file
	}
	w.Header().Set("Content-Type", map[string]string{".csv": "text/csv; charset=utf-8", ".json": "application/json", ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}[ext])
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	http.ServeContent(w, r, "", st.ModTime(), f)
}
