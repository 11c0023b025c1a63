package pass

import (
	"context"
	"fmt"
	"time"

	"github.com/licensync/licensync/licensing"
)

// DueNotices returns, oldest failure first and at most limit of them, the
// users whose latest decision is FAILED since before or earlier and whose
// failure (its cause, from when it began) no webhook notice has told of yet.
func (s *Store) DueNotices(ctx context.Context, before time.Time, limit int) ([]Failure, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+rowCols+", first_seen, failing_since FROM users "+
		"WHERE outcome = 'FAILED' AND failing_since <> '' AND failing_since <= ? AND NOT (notified_cause = cause AND notified_since = failing_since) "+
		"ORDER BY failing_since, source_id LIMIT ?", storeTime(before), limit)
	if err != nil {
		return nil, fmt.Errorf("state store: due notices: %w", err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var f Failure
		var first, since string
		if err := rows.Scan(&f.SourceID, &f.Email, &f.DisplayName, &f.WorkPhone, &f.E164, &f.Outcome, &f.Cause, &f.Detail,
			&f.LocationID, &f.LocationName, &f.Licenses, &first, &since); err != nil {
			return nil, fmt.Errorf("state store: due notices: %w", err)
		}
		if f.FirstSeen, err = parseStoreTime(first); err != nil {
			return nil, fmt.Errorf("state store: user %s: first_seen %q: %w", f.SourceID, first, err)
		}
		if f.FailingSince, err = parseStoreTime(since); err != nil {
			return nil, fmt.Errorf("state store: user %s: failing_since %q: %w", f.SourceID, since, err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Notified records that a notice told of user id's failure with cause,
// begun at since, so that DueNotices leaves it out from now on. A failure
// the user no longer has (another pass decided them since) is left as is.
func (s *Store) Notified(ctx context.Context, id string, cause licensing.Cause, since time.Time) error {
	at := storeTime(since)
	_, err := s.db.ExecContext(ctx, "UPDATE users SET notified_cause = ?, notified_since = ? WHERE source_id = ? AND cause = ? AND failing_since = ?",
		string(cause), at, id, string(cause), at)
	if err != nil {
		return fmt.Errorf("state store: user %s: notified: %w", id, err)
	}
	return nil
}
