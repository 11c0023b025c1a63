package pass

import (
	"context"
	"fmt"
	"time"

	"github.com/licensync/licensync/licensing"
)

// Check is what monitoring judges after a pass: the users whose latest
// decision is a failure, whichever pass made it, and, after a plan, the
// changes it would make. On a plan the plan's decisions stand in for the
// stored ones of the users it decided (all of them on a full plan; on an
// incremental plan those the source read and those healing fed), since a
// plan records nothing. Failures that began after before are left out (none
// when before is zero); pending changes always count.
func Check(ctx context.Context, s *Store, res *Result, before time.Time) (Standing, error) {
	if res.Run.Mode != string(PlanOnly) {
		return s.standing(ctx, before)
	}
	st := Standing{Causes: map[licensing.Cause]int{}, Pending: res.Summary.Outcomes[string(licensing.WouldProvision)]}
	// The plan's failures, each failing since the stored failure began when
	// the cause is the same, else since the plan.
	err := s.scanFailures(ctx, &st, before, nil, "SELECT f.source_id, f.cause, CASE WHEN u.outcome = 'FAILED' AND u.cause = f.cause AND u.failing_since <> '' THEN u.failing_since ELSE ? END "+
		"FROM run_failures f LEFT JOIN users u ON u.source_id = f.source_id WHERE f.run_id = ?", storeTime(res.Run.Started), res.Run.ID)
	if err != nil || res.Run.Full {
		return st, err
	}
	// The stored failures of the users the incremental plan did not decide.
	return st, s.scanFailures(ctx, &st, before, res.decided, "SELECT source_id, cause, failing_since FROM users WHERE outcome = 'FAILED'")
}

// scanFailures adds to st the failures q finds, as rows of (source_id,
// cause, failing_since), except those of the users in skip and those that
// began after before.
func (s *Store) scanFailures(ctx context.Context, st *Standing, before time.Time, skip map[string]bool, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("state store: standing failures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, cause, since string
		if err := rows.Scan(&id, &cause, &since); err != nil {
			return fmt.Errorf("state store: standing failures: %w", err)
		}
		if skip[id] {
			continue
		}
		t, err := parseStoreTime(since)
		if err != nil {
			return fmt.Errorf("state store: user %s: failing_since %q: %w", id, since, err)
		}
		if !before.IsZero() && t.After(before) {
			continue
		}
		st.add(licensing.Cause(cause), 1, t)
	}
	return rows.Err()
}
