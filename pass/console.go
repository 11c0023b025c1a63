package pass

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/licensync/licensync/licensing"
)

// UserQuery selects a page of users for the help-desk console.
type UserQuery struct {
	// Search matches the email, display name, work phone, E.164 number or
	// source id, without case; a query made of a number's characters also
	// matches the number written without its formatting.
	Search string
	// Outcome and Cause, when set, keep only the users whose latest
	// decision has them.
	Outcome, Cause string
	// Sort is one of SortKeys; empty sorts by email.
	Sort string
	// Desc reverses the order.
	Desc bool
	// Offset and Limit page the result; Limit is at most MaxUserPage.
	Offset, Limit int
}

// MaxUserPage is the most users one FindUsers call returns.
const MaxUserPage = 500

// broadSearch is how many matches make a search broad: its page is read
// along the sort order rather than by sorting the matches.
var broadSearch = 2000

// SortKeys are the orders FindUsers knows, each backed by an index.
var SortKeys = map[string]string{
	"email":   "email COLLATE NOCASE",
	"name":    "display_name COLLATE NOCASE",
	"number":  "e164",
	"outcome": "outcome, cause",
	"since":   "failing_since",
}

// StoredUser is a user as the state store remembers them: the latest
// decision with the record it was made on and the times around it.
type StoredUser struct {
	Row
	// RunID is the pass that made the latest decision.
	RunID string `json:"run_id"`
	// Record is the directory record the decision was made on; HasRecord
	// is false for users last decided before the store kept records.
	Record    licensing.DirectoryUser `json:"record"`
	HasRecord bool                    `json:"has_record"`
	// FirstSeen is when a pass first recorded the user, FailingSince when
	// the current failure began (zero when not failing), ProvisionedAt when
	// a pass last licensed them.
	FirstSeen     time.Time `json:"first_seen,omitzero"`
	FailingSince  time.Time `json:"failing_since,omitzero"`
	ProvisionedAt time.Time `json:"provisioned_at,omitzero"`
}

// ErrUnknownUser is User's error for a source id the store does not hold.
var ErrUnknownUser = errors.New("state store: no such user")

const storedCols = rowCols + ", run_id, record, first_seen, failing_since, provisioned_at"

func scanStored(s interface{ Scan(...any) error }) (StoredUser, error) {
	var u StoredUser
	var rec, first, since, prov string
	if err := s.Scan(&u.SourceID, &u.Email, &u.DisplayName, &u.WorkPhone, &u.E164, &u.Outcome, &u.Cause, &u.Detail,
		&u.LocationID, &u.LocationName, &u.Licenses, &u.RunID, &rec, &first, &since, &prov); err != nil {
		return u, err
	}
	if rec != "" {
		if err := json.Unmarshal([]byte(rec), &u.Record); err != nil {
			return u, fmt.Errorf("user %s: record: %w", u.SourceID, err)
		}
		u.HasRecord = true
	}
	var err error
	for _, t := range []struct {
		name string
		in   string
		out  *time.Time
	}{{"first_seen", first, &u.FirstSeen}, {"failing_since", since, &u.FailingSince}, {"provisioned_at", prov, &u.ProvisionedAt}} {
		if *t.out, err = parseStoreTime(t.in); err != nil {
			return u, fmt.Errorf("user %s: %s %q: %w", u.SourceID, t.name, t.in, err)
		}
	}
	return u, nil
}

// FindUsers returns one page of the users q selects and how many it
// selects in all.
func (s *Store) FindUsers(ctx context.Context, q UserQuery) ([]StoredUser, int, error) {
	var where []string
	var args []any
	if q.Outcome != "" {
		where = append(where, "outcome = ?")
		args = append(args, q.Outcome)
	}
	if q.Cause != "" {
		where = append(where, "cause = ?")
		args = append(args, q.Cause)
	}
	// The search column holds what a search matches, in lower case, and its
	// index holds the source id beside it, so finding the matches scans that
	// index, not the users' rows. A narrow search's matches are then read
	// by id; a broad one's page is read along the sort order, testing each
	// row, which fills it long before the end. A number is searched by its
	// digits, however it was written.
	if term := strings.TrimSpace(q.Search); term != "" {
		term = strings.ToLower(term)
		if digits := phoneDigits(term); digits != "" {
			term = digits
		}
		matches, err := s.matching(ctx, term, broadSearch+1)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case len(matches) == 0:
			return []StoredUser{}, 0, nil
		case len(matches) <= broadSearch:
			where = append(where, "source_id IN (?"+strings.Repeat(",?", len(matches)-1)+")")
			args = append(args, matches...)
		default:
			where = append(where, "instr(search, ?) > 0")
			args = append(args, term)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("state store: users: %w", err)
	}
	order, ok := SortKeys[q.Sort]
	if !ok {
		order = SortKeys["email"]
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	var keys []string
	for _, k := range strings.Split(order, ", ") {
		keys = append(keys, k+dir)
	}
	limit := min(max(q.Limit, 1), MaxUserPage)
	rows, err := s.db.QueryContext(ctx, "SELECT "+storedCols+" FROM users"+cond+" ORDER BY "+strings.Join(keys, ", ")+", source_id"+dir+" LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("state store: users: %w", err)
	}
	defer rows.Close()
	var out []StoredUser
	for rows.Next() {
		u, err := scanStored(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("state store: %w", err)
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

// matching returns the source ids of at most limit users whose search
// column holds term.
func (s *Store) matching(ctx context.Context, term string, limit int) ([]any, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT source_id FROM users WHERE instr(search, ?) > 0 LIMIT ?", term, limit)
	if err != nil {
		return nil, fmt.Errorf("state store: search: %w", err)
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("state store: search: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// searchText is what a search matches for a user, in lower case: the
// source id, email, display name, work phone and E.164 number, and the work
// phone's digits, so that a number is found however it was written.
func searchText(r *Row) string {
	var digits strings.Builder
	for _, c := range r.WorkPhone {
		if c >= '0' && c <= '9' {
			digits.WriteRune(c)
		}
	}
	return strings.ToLower(strings.Join([]string{r.SourceID, r.Email, r.DisplayName, r.WorkPhone, r.E164, digits.String()}, " "))
}

// phoneDigits returns the digits of a search made only of a phone
// number's characters, with at least three digits; "" otherwise.
func phoneDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("+-() ./", r):
		default:
			return ""
		}
	}
	if b.Len() < 3 {
		return ""
	}
	return b.String()
}

// User returns one user's latest decision; ErrUnknownUser when the store
// does not hold the id.
func (s *Store) User(ctx context.Context, id string) (StoredUser, error) {
	u, err := scanStored(s.db.QueryRowContext(ctx, "SELECT "+storedCols+" FROM users WHERE source_id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrUnknownUser
	}
	if err != nil {
		return u, fmt.Errorf("state store: %w", err)
	}
	return u, nil
}

// Neighbours counts the stored users who share a number or an email with
// the user id: how many carry e164 (the user included, SKIPPED users left
// out, as a pass counts claims) and how many carry email, without case.
func (s *Store) Neighbours(ctx context.Context, id, e164, email string) (claimants, sameEmail int, err error) {
	claimants = 1
	if e164 != "" {
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) + 1 FROM users WHERE e164 = ? AND outcome <> 'SKIPPED' AND source_id <> ?", e164, id).Scan(&claimants); err != nil {
			return 0, 0, fmt.Errorf("state store: %w", err)
		}
	}
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) + 1 FROM users WHERE lower(trim(email)) = lower(trim(?)) AND source_id <> ?", email, id).Scan(&sameEmail); err != nil {
		return 0, 0, fmt.Errorf("state store: %w", err)
	}
	return claimants, sameEmail, nil
}

// Decided is one change of a user's decision, as a pass recorded it.
type Decided struct {
	RunID string    `json:"run_id"`
	At    time.Time `json:"at"`
	Row
}

// UserHistory returns the changes of a user's decision, newest first: one
// entry per pass that decided differently from the pass before, within the
// kept passes, and always the entry the latest decision began with.
func (s *Store) UserHistory(ctx context.Context, id string, limit int) ([]Decided, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT run_id, at, source_id, email, display_name, work_phone, e164, outcome, cause, detail, location_name "+
		"FROM user_decisions WHERE source_id = ? ORDER BY seq DESC LIMIT ?", id, limit)
	if err != nil {
		return nil, fmt.Errorf("state store: history: %w", err)
	}
	defer rows.Close()
	var out []Decided
	for rows.Next() {
		var d Decided
		var at string
		if err := rows.Scan(&d.RunID, &at, &d.SourceID, &d.Email, &d.DisplayName, &d.WorkPhone, &d.E164, &d.Outcome, &d.Cause, &d.Detail, &d.LocationName); err != nil {
			return nil, fmt.Errorf("state store: history: %w", err)
		}
		d.At, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// CauseCount is one cause of the standing failures.
type CauseCount struct {
	Cause licensing.Cause `json:"cause"`
	Users int             `json:"users"`
	// Oldest is when the oldest of these failures began.
	Oldest time.Time `json:"oldest,omitzero"`
}

// FailuresByCause counts the users whose latest decision is FAILED per
// cause, most users first, with each cause's oldest failure.
func (s *Store) FailuresByCause(ctx context.Context) ([]CauseCount, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT cause, COUNT(*), COALESCE(MIN(NULLIF(failing_since, '')), '') FROM users WHERE outcome = 'FAILED' GROUP BY cause ORDER BY COUNT(*) DESC, cause")
	if err != nil {
		return nil, fmt.Errorf("state store: failures by cause: %w", err)
	}
	defer rows.Close()
	var out []CauseCount
	for rows.Next() {
		var c CauseCount
		var oldest string
		if err := rows.Scan(&c.Cause, &c.Users, &oldest); err != nil {
			return nil, fmt.Errorf("state store: failures by cause: %w", err)
		}
		if c.Oldest, err = parseStoreTime(oldest); err != nil {
			return nil, fmt.Errorf("state store: failures by cause: failing_since %q: %w", oldest, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Traffic is what one pass sent to one side.
type Traffic struct {
	Requests  int64 `json:"requests"`
	Retries   int64 `json:"retries"`
	Throttled int64 `json:"throttled"`
}

// RecordTraffic keeps what the pass runID sent to side (source or target);
// a pass the store does not hold (one that failed before it began) keeps
// nothing.
func (s *Store) RecordTraffic(ctx context.Context, runID, side string, t Traffic) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO run_traffic (run_id, side, requests, retries, throttled) SELECT ?,?,?,?,? WHERE EXISTS (SELECT 1 FROM runs WHERE id = ?) "+
		"ON CONFLICT(run_id, side) DO UPDATE SET requests=excluded.requests, retries=excluded.retries, throttled=excluded.throttled",
		runID, side, t.Requests, t.Retries, t.Throttled, runID)
	if err != nil {
		return fmt.Errorf("state store: traffic of pass %s: %w", runID, err)
	}
	return nil
}

// RunTraffic returns the traffic the kept passes recorded, by pass id and
// side.
func (s *Store) RunTraffic(ctx context.Context) (map[string]map[string]Traffic, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT run_id, side, requests, retries, throttled FROM run_traffic")
	if err != nil {
		return nil, fmt.Errorf("state store: traffic: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]Traffic{}
	for rows.Next() {
		var id, side string
		var t Traffic
		if err := rows.Scan(&id, &side, &t.Requests, &t.Retries, &t.Throttled); err != nil {
			return nil, fmt.Errorf("state store: traffic: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]Traffic{}
		}
		out[id][side] = t
	}
	return out, rows.Err()
}

// LeaseHolder is who leads an organisation on a store replicas share.
type LeaseHolder struct {
	Org   string `json:"org"`
	Owner string `json:"owner"`
	Epoch int64  `json:"epoch"`
	// Expires is when the lease ends unless its owner renews it; Live is
	// false once it has (the owner stopped or was cut off, and a standby
	// takes over).
	Expires time.Time `json:"expires"`
	Live    bool      `json:"live"`
}

// LeaseHolders returns the leases of a PostgreSQL store, by organisation;
// none on SQLite, which one process uses under the instance lock.
func (s *Store) LeaseHolders(ctx context.Context) ([]LeaseHolder, error) {
	if s.db.dialect != postgresDialect {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT org, owner, epoch, expires, expires > now() FROM leases ORDER BY org")
	if err != nil {
		return nil, fmt.Errorf("state store: leases: %w", err)
	}
	defer rows.Close()
	var out []LeaseHolder
	for rows.Next() {
		var l LeaseHolder
		if err := rows.Scan(&l.Org, &l.Owner, &l.Epoch, &l.Expires, &l.Live); err != nil {
			return nil, fmt.Errorf("state store: leases: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
