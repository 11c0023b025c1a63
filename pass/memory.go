package pass

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/licensync/licensync/licensing"
)

// storeLayout writes the store's per-user times in UTC with a fixed width,
// so that comparing and MIN() on the text order them as times.
const storeLayout = "2006-01-02T15:04:05.000Z"

func storeTime(t time.Time) string { return t.UTC().Format(storeLayout) }

func parseStoreTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(storeLayout, s)
}

// backoffCause reports whether a failure with cause is retried on the
// look-up backoff: the person may appear, or the target may recover, at any
// time, and nothing in the snapshot says when.
func backoffCause(c licensing.Cause) bool {
	return c == licensing.CauseWebexUserNotFound || c == licensing.CauseAPIError
}

// lookupWait is how long a user failing on a backoff cause waits for the
// next look-up, given how long the failure has lasted: not at all in the
// first hour (every pass looks again), then the failure's age rounded down
// to a power of two hours (1h, 2h, 4h, 8h, 16h), and never more than a day.
func lookupWait(age time.Duration) time.Duration {
	if age < time.Hour {
		return 0
	}
	w := time.Hour
	for w*2 <= age && w < 24*time.Hour {
		w *= 2
	}
	return min(w, 24*time.Hour)
}

// Standing sums up the users whose latest decision is FAILED, whichever
// pass decided them.
type Standing struct {
	// Total is the number of standing failures; Causes splits it per cause.
	Total  int
	Causes map[licensing.Cause]int
	// Oldest is when the oldest standing failure began; zero when there is
	// none.
	Oldest time.Time
	// Pending counts the changes a plan would make (WOULD_PROVISION); the
	// store never holds one, so only Check after a plan sets it.
	Pending int
}

func (st *Standing) add(cause licensing.Cause, n int, since time.Time) {
	if st.Causes == nil {
		st.Causes = map[licensing.Cause]int{}
	}
	st.Total += n
	st.Causes[cause] += n
	if !since.IsZero() && (st.Oldest.IsZero() || since.Before(st.Oldest)) {
		st.Oldest = since
	}
}

// StandingFailures counts the users whose latest decision is FAILED, per
// cause, and says when the oldest of those failures began. It is what
// monitoring reads: it does not depend on what the latest pass read.
func (s *Store) StandingFailures(ctx context.Context) (Standing, error) {
	return s.standing(ctx, time.Time{})
}

// standing is StandingFailures leaving out the failures that began after
// before (none when before is zero).
func (s *Store) standing(ctx context.Context, before time.Time) (Standing, error) {
	q := "SELECT cause, COUNT(*), COALESCE(MIN(NULLIF(failing_since, '')), '') FROM users WHERE outcome = 'FAILED'"
	var args []any
	if !before.IsZero() {
		q += " AND failing_since <= ?"
		args = append(args, storeTime(before))
	}
	rows, err := s.db.QueryContext(ctx, q+" GROUP BY cause", args...)
	if err != nil {
		return Standing{}, fmt.Errorf("state store: standing failures: %w", err)
	}
	defer rows.Close()
	st := Standing{Causes: map[licensing.Cause]int{}}
	for rows.Next() {
		var cause, oldest string
		var n int
		if err := rows.Scan(&cause, &n, &oldest); err != nil {
			return Standing{}, fmt.Errorf("state store: standing failures: %w", err)
		}
		since, err := parseStoreTime(oldest)
		if err != nil {
			return Standing{}, fmt.Errorf("state store: standing failures: failing_since %q: %w", oldest, err)
		}
		st.add(licensing.Cause(cause), n, since)
	}
	return st, rows.Err()
}

// Failure is a user whose latest decision is FAILED, as the store
// remembers them.
type Failure struct {
	Row
	// Record is the directory record the decision was made on. HasRecord is
	// false for users last decided before the store kept records.
	Record    licensing.DirectoryUser
	HasRecord bool
	// FirstSeen is when a pass first recorded the user; FailingSince when
	// the current cause began.
	FirstSeen, FailingSince time.Time
	// NextLookup is when a failure on a backoff cause (WEBEX_USER_NOT_FOUND,
	// API_ERROR) is due to be decided again; zero for other causes.
	NextLookup time.Time
	// Lookups is how many times the same failure was decided again.
	Lookups int
}

// Failures calls each, in source id order, for every user whose latest
// decision is FAILED with one of causes. each runs while the store reads, so
// it must not use the store.
func (s *Store) Failures(ctx context.Context, causes []licensing.Cause, each func(*Failure) error) error {
	return s.failures(ctx, causes, "", nil, each)
}

// dueFailures is Failures leaving out, in the query, the failures on a
// backoff cause (backoffCause's two) whose next look-up is after now: a
// pass with thousands of them waiting reads and decodes only those it may
// decide again. Store times have a fixed width, so they compare as text.
func (s *Store) dueFailures(ctx context.Context, causes []licensing.Cause, now time.Time, each func(*Failure) error) error {
	return s.failures(ctx, causes, " AND (cause NOT IN (?,?) OR next_lookup <= ?)",
		[]any{string(licensing.CauseWebexUserNotFound), string(licensing.CauseAPIError), storeTime(now)}, each)
}

// standingFailures counts the users whose latest decision is FAILED with
// one of causes, from the index of outcomes and causes.
func (s *Store) standingFailures(ctx context.Context, causes []licensing.Cause) (int, error) {
	if len(causes) == 0 {
		return 0, nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE outcome = 'FAILED' AND cause IN ("+placeholders(len(causes))+")", causeArgs(causes)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("state store: failures: %w", err)
	}
	return n, nil
}

func placeholders(n int) string { return "?" + strings.Repeat(",?", n-1) }

func causeArgs(causes []licensing.Cause) []any {
	args := make([]any, len(causes))
	for i, c := range causes {
		args[i] = string(c)
	}
	return args
}

// failures reads the failures with one of causes that also meet and, an
// SQL condition on users taking andArgs.
func (s *Store) failures(ctx context.Context, causes []licensing.Cause, and string, andArgs []any, each func(*Failure) error) error {
	if len(causes) == 0 {
		return nil
	}
	q := "SELECT " + rowCols + ", record, first_seen, failing_since, next_lookup, lookups FROM users WHERE outcome = 'FAILED' AND cause IN (" +
		placeholders(len(causes)) + ")" + and + " ORDER BY source_id"
	rows, err := s.db.QueryContext(ctx, q, append(causeArgs(causes), andArgs...)...)
	if err != nil {
		return fmt.Errorf("state store: failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f Failure
		var rec, first, since, next string
		if err := rows.Scan(&f.SourceID, &f.Email, &f.DisplayName, &f.WorkPhone, &f.E164, &f.Outcome, &f.Cause, &f.Detail,
			&f.LocationID, &f.LocationName, &f.Licenses, &rec, &first, &since, &next, &f.Lookups); err != nil {
			return fmt.Errorf("state store: failures: %w", err)
		}
		if rec != "" {
			if err := json.Unmarshal([]byte(rec), &f.Record); err != nil {
				return fmt.Errorf("state store: user %s: record: %w", f.SourceID, err)
			}
			f.HasRecord = true
		}
		for _, t := range []struct {
			name string
			in   string
			out  *time.Time
		}{{"first_seen", first, &f.FirstSeen}, {"failing_since", since, &f.FailingSince}, {"next_lookup", next, &f.NextLookup}} {
			if *t.out, err = parseStoreTime(t.in); err != nil {
				return fmt.Errorf("state store: user %s: %s %q: %w", f.SourceID, t.name, t.in, err)
			}
		}
		if err := each(&f); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LicenceDelays returns, for each user the pass runID provisioned, the time
// from the user's first sighting to the licence: the delay the service's
// promise is about. Read it right after the pass: a later pass that decides
// a user again takes the user over.
func (s *Store) LicenceDelays(ctx context.Context, runID string) ([]time.Duration, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT source_id, first_seen, provisioned_at FROM users WHERE run_id = ? AND outcome = 'PROVISIONED' AND first_seen <> '' AND provisioned_at <> ''", runID)
	if err != nil {
		return nil, fmt.Errorf("state store: licence delays: %w", err)
	}
	defer rows.Close()
	var out []time.Duration
	for rows.Next() {
		var id, first, at string
		if err := rows.Scan(&id, &first, &at); err != nil {
			return nil, fmt.Errorf("state store: licence delays: %w", err)
		}
		f, err1 := parseStoreTime(first)
		p, err2 := parseStoreTime(at)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("state store: user %s: first_seen %q or provisioned_at %q is not a time", id, first, at)
		}
		out = append(out, p.Sub(f))
	}
	return out, rows.Err()
}
