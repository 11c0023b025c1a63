package pass

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite: no cgo, one static binary

	"github.com/licensync/licensync/licensing"
)

// Row is one user's line in a report and in the state store: the report's
// columns, in order.
type Row struct {
	SourceID     string `json:"source_id"`
	Email        string `json:"email"`
	DisplayName  string `json:"display_name"`
	WorkPhone    string `json:"work_phone"`
	E164         string `json:"e164"`
	Outcome      string `json:"outcome"`
	Cause        string `json:"cause"`
	Detail       string `json:"detail"`
	LocationID   string `json:"location_id"`
	LocationName string `json:"location_name"`
	Licenses     string `json:"licenses"`
}

func (r *Row) fields() []any {
	return []any{r.SourceID, r.Email, r.DisplayName, r.WorkPhone, r.E164, r.Outcome, r.Cause, r.Detail, r.LocationID, r.LocationName, r.Licenses}
}

func (r *Row) scan(s interface{ Scan(...any) error }) error {
	return s.Scan(&r.SourceID, &r.Email, &r.DisplayName, &r.WorkPhone, &r.E164, &r.Outcome, &r.Cause, &r.Detail, &r.LocationID, &r.LocationName, &r.Licenses)
}

const rowCols = "source_id, email, display_name, work_phone, e164, outcome, cause, detail, location_id, location_name, licenses"

// Store is the state store: the passes that ran, each user's latest
// decision, the failures of each pass and the source checkpoints. It holds
// no secrets: only directory values and decisions.
type Store struct {
	db *sqlDB
	// dir is the local folder of the store's work files: the SQLite file's
	// folder, or the one a PostgreSQL store is opened with.
	dir string
	// fence, when set, is the lease epoch every write proves it holds
	// (FencedBy); nil writes unfenced, under the instance lock.
	fence *fence
}

// OpenStore opens (creating if needed) the SQLite state store at path.
func OpenStore(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: &sqlDB{DB: db, dialect: sqliteDialect}, dir: filepath.Dir(path)}
	if err := migrate(context.Background(), s.db); err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// RunInfo describes one pass.
type RunInfo struct {
	ID      string    `json:"id"`
	Mode    string    `json:"mode"`
	Full    bool      `json:"full"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Status is running, succeeded, failed or interrupted.
	Status  string  `json:"status"`
	Summary Summary `json:"-"`
}

// beginRun records a new pass. Passes still marked running were killed: the
// instance lock guarantees no other process is in one, so they are marked
// interrupted first.
func (s *Store) beginRun(ctx context.Context, r RunInfo) error {
	return s.write(ctx, func(tx *sqlTx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET status = 'interrupted' WHERE status = 'running'"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO runs (id, mode, \"full\", started, status) VALUES (?,?,?,?,?)",
			r.ID, r.Mode, r.Full, r.Started.UTC().Format(time.RFC3339Nano), r.Status)
		return err
	})
}

func (s *Store) endRun(ctx context.Context, r RunInfo) error {
	return s.write(ctx, func(tx *sqlTx) error { return endRun(ctx, tx, r) })
}

func endRun(ctx context.Context, x interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, r RunInfo) error {
	sum, _ := json.Marshal(r.Summary)
	_, err := x.ExecContext(ctx, "UPDATE runs SET ended = ?, status = ?, summary = ?, \"full\" = ? WHERE id = ?",
		r.Ended.UTC().Format(time.RFC3339Nano), r.Status, string(sum), r.Full, r.ID)
	return err
}

// Runs lists the most recent passes, newest first.
func (s *Store) Runs(ctx context.Context, limit int) ([]RunInfo, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, mode, \"full\", started, ended, status, summary FROM runs ORDER BY started DESC, id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("state store: runs: %w", err)
	}
	defer rows.Close()
	var out []RunInfo
	for rows.Next() {
		var r RunInfo
		var started, ended, sum string
		if err := rows.Scan(&r.ID, &r.Mode, &r.Full, &started, &ended, &r.Status, &sum); err != nil {
			return nil, err
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, started)
		r.Ended, _ = time.Parse(time.RFC3339Nano, ended)
		_ = json.Unmarshal([]byte(sum), &r.Summary)
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run returns one pass; an empty id means the latest pass.
func (s *Store) Run(ctx context.Context, id string) (RunInfo, error) {
	runs, err := s.Runs(ctx, 1<<30)
	if err != nil {
		return RunInfo{}, err
	}
	for _, r := range runs {
		if id == "" || r.ID == id {
			return r, nil
		}
	}
	if id == "" {
		return RunInfo{}, errors.New("state store: no pass has run yet")
	}
	return RunInfo{}, &UnknownRunError{ID: id}
}

// UnknownRunError is Run's error for an id no pass has: a caller's mistake,
// not a failure of the store.
type UnknownRunError struct{ ID string }

func (e *UnknownRunError) Error() string {
	return fmt.Sprintf("state store: no pass with id %s (see 'licensync history')", e.ID)
}

// Checkpoint returns the stored checkpoint of a source.
func (s *Store) Checkpoint(ctx context.Context, source string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM checkpoints WHERE source = ?", source).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// batch is one transaction of recorded decisions. Its statements are
// prepared once for the store, when first used, and its failures are
// inserted failuresPerInsert to a statement.
type batch struct {
	tx    *sqlTx
	stmts map[string]*sql.Stmt
	// failures holds the values of the failures not inserted yet, n of them.
	failures []any
	n        int
}

// failuresPerInsert is how many failures one INSERT writes: one statement
// per failure cost more than the rows themselves. The rest of a batch's
// failures go eight, then one, to a statement.
const failuresPerInsert = 64

// insertFailures writes n failures.
func insertFailures(n int) string {
	return "INSERT INTO run_failures (run_id, seq, " + rowCols + ") VALUES " +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?),", n), ",")
}

// failureCounts are the failures an INSERT may write, largest first, and
// failureInserts those INSERTs by count, built once.
var (
	failureCounts  = []int{failuresPerInsert, 8, 1}
	failureInserts = map[int]string{failuresPerInsert: insertFailures(failuresPerInsert), 8: insertFailures(8), 1: insertFailures(1)}
)

// batchStatements are every statement a batch runs, prepared before its
// transaction begins.
var batchStatements = []string{touchLatest, upsertLatest, forgetUser, scheduleLookup,
	failureInserts[failuresPerInsert], failureInserts[8], failureInserts[1]}

// Statements of a batch besides upsertLatest and touchLatest.
const (
	forgetUser     = "DELETE FROM users WHERE source_id = ?"
	scheduleLookup = "UPDATE users SET next_lookup = ? WHERE source_id = ?"
)

// upsertLatest records a user's latest decision with what the store
// remembers of them: the record it was made on, the first sighting (kept),
// the start of the current failure (kept while the cause stays the same),
// how often the same failure was decided again, and when the licence landed.
const upsertLatest = "INSERT INTO users (" + rowCols + ", run_id, record, first_seen, failing_since, provisioned_at, search) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) " +
	"ON CONFLICT(source_id) DO UPDATE SET " +
	"email=excluded.email, display_name=excluded.display_name, work_phone=excluded.work_phone, e164=excluded.e164, outcome=excluded.outcome, " +
	"cause=excluded.cause, detail=excluded.detail, location_id=excluded.location_id, location_name=excluded.location_name, licenses=excluded.licenses, run_id=excluded.run_id, " +
	"record=excluded.record, search=excluded.search, " +
	"failing_since = CASE WHEN excluded.outcome <> 'FAILED' THEN '' WHEN users.outcome = 'FAILED' AND users.cause = excluded.cause AND users.failing_since <> '' THEN users.failing_since ELSE excluded.failing_since END, " +
	"lookups = CASE WHEN excluded.outcome = 'FAILED' AND users.outcome = 'FAILED' AND users.cause = excluded.cause THEN users.lookups + 1 ELSE 0 END, " +
	"next_lookup = '', " +
	"provisioned_at = CASE WHEN excluded.outcome = 'PROVISIONED' THEN excluded.provisioned_at ELSE users.provisioned_at END " +
	"RETURNING failing_since"

// touchLatest records a decision the store already holds word for word,
// on the same record: only the pass that made it and the look-up count
// change, so none of the users' indexes is rewritten, which is most of what
// a full pass over an unchanged directory costs. It matches nothing (and
// upsertLatest runs instead) when anything else would change: a value, the
// record, a licence that just landed, or a failure start not yet set.
const touchLatest = "UPDATE users SET run_id = ?, lookups = CASE WHEN outcome = 'FAILED' THEN lookups + 1 ELSE 0 END, next_lookup = '' " +
	"WHERE source_id = ? AND email = ? AND display_name = ? AND work_phone = ? AND e164 = ? AND outcome = ? AND cause = ? AND detail = ? " +
	"AND location_id = ? AND location_name = ? AND licenses = ? AND record = ? AND search = ? AND outcome <> 'PROVISIONED' " +
	"AND ((outcome = 'FAILED' AND failing_since <> '') OR (outcome <> 'FAILED' AND failing_since = '')) " +
	"RETURNING failing_since"

func (s *Store) begin(ctx context.Context) (*batch, error) {
	if err := s.db.prepare(ctx, batchStatements...); err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	if err := s.fence.prove(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return &batch{tx: tx, stmts: map[string]*sql.Stmt{}}, nil
}

// stmt returns q prepared in the batch's transaction.
func (b *batch) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := b.stmts[q]; ok {
		return st, nil
	}
	st, err := b.tx.stmt(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	b.stmts[q] = st
	return st, nil
}

// exec runs q with args in the batch's transaction.
func (b *batch) exec(ctx context.Context, q string, args ...any) error {
	st, err := b.stmt(ctx, q)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}

// failure records the seq-th failure of run runID.
func (b *batch) failure(ctx context.Context, runID string, seq int, row *Row) error {
	b.failures = append(append(b.failures, runID, seq), row.fields()...)
	if b.n++; b.n == failuresPerInsert {
		return b.insertFailures(ctx)
	}
	return nil
}

func (b *batch) insertFailures(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	perRow := len(b.failures) / b.n
	rest := b.failures
	for _, per := range failureCounts {
		for ; len(rest) >= per*perRow; rest = rest[per*perRow:] {
			if err := b.exec(ctx, failureInserts[per], rest[:per*perRow]...); err != nil {
				return err
			}
		}
	}
	b.failures, b.n = b.failures[:0], 0
	return nil
}

// commit inserts what waits and commits the transaction.
func (b *batch) commit(ctx context.Context) error {
	if err := b.insertFailures(ctx); err != nil {
		return err
	}
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}

// latestOf records one user's latest decision, made on record at now.
func (b *batch) latestOf(ctx context.Context, row *Row, u *licensing.DirectoryUser, runID string, now time.Time) error {
	rec, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("state store: user %s: %w", u.ID, err)
	}
	at := storeTime(now)
	failing, provisioned := "", ""
	switch licensing.Outcome(row.Outcome) {
	case licensing.Failed:
		failing = at
	case licensing.Provisioned:
		provisioned = at
	}
	var since string
	search := searchText(row)
	touchStmt, err := b.stmt(ctx, touchLatest)
	if err != nil {
		return err
	}
	touch := append([]any{runID}, row.fields()...)
	switch err := touchStmt.QueryRowContext(ctx, append(touch, string(rec), search)...).Scan(&since); {
	case errors.Is(err, sql.ErrNoRows):
		latest, err := b.stmt(ctx, upsertLatest)
		if err != nil {
			return err
		}
		if err := latest.QueryRowContext(ctx, append(row.fields(), runID, string(rec), at, failing, provisioned, search)...).Scan(&since); err != nil {
			return fmt.Errorf("state store: user %s: %w", u.ID, err)
		}
	case err != nil:
		return fmt.Errorf("state store: user %s: %w", u.ID, err)
	}
	if row.Outcome != string(licensing.Failed) || !backoffCause(licensing.Cause(row.Cause)) {
		return nil
	}
	began, err := parseStoreTime(since)
	if err != nil {
		return fmt.Errorf("state store: user %s: failing_since: %w", u.ID, err)
	}
	if err := b.exec(ctx, scheduleLookup, storeTime(now.Add(lookupWait(now.Sub(began)))), u.ID); err != nil {
		return fmt.Errorf("user %s: %w", u.ID, err)
	}
	return nil
}

// Rows returns the rows of users whose latest decision has the outcome
// (all users when outcome is empty), in source id order.
func (s *Store) Rows(ctx context.Context, outcome licensing.Outcome, each func(Row) error) error {
	q := "SELECT " + rowCols + " FROM users"
	var args []any
	if outcome != "" {
		q += " WHERE outcome = ?"
		args = append(args, string(outcome))
	}
	return s.query(ctx, q+" ORDER BY source_id", args, each)
}

// RunFailures returns the FAILED rows a pass recorded, in pass order.
func (s *Store) RunFailures(ctx context.Context, runID string, each func(Row) error) error {
	return s.query(ctx, "SELECT "+rowCols+" FROM run_failures WHERE run_id = ? ORDER BY seq", []any{runID}, each)
}

func (s *Store) query(ctx context.Context, q string, args []any, each func(Row) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		if err := r.scan(rows); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		if err := each(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// forget deletes the users a full pass did not see: they left the directory.
// The pass calls it only when the source read every record whole; after an
// unreadable one, an unseen user may be that record.
func (s *Store) forget(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sqlTx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE run_id <> ?", runID)
		if err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// succeed records a pass as succeeded and, when source is set, moves that
// source's checkpoint, in one transaction: a checkpoint never moves unless
// its pass is recorded as succeeded.
func (s *Store) succeed(ctx context.Context, r RunInfo, source, checkpoint string) error {
	return s.write(ctx, func(tx *sqlTx) error {
		if err := endRun(ctx, tx, r); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		if source != "" {
			if _, err := tx.ExecContext(ctx, "INSERT INTO checkpoints (source, value, run_id) VALUES (?,?,?) ON CONFLICT(source) DO UPDATE SET value=excluded.value, run_id=excluded.run_id",
				source, checkpoint, r.ID); err != nil {
				return fmt.Errorf("state store: checkpoint: %w", err)
			}
		}
		return nil
	})
}

// claims adds to counts the stored users, other than those the current
// incremental pass read again (skip), who carry a number the pass's users
// claim. Only those numbers' counts are ever asked for, so each is looked
// up in the e164 index: a pass costs what it read, not what the store holds.
func (s *Store) claims(ctx context.Context, skip map[string]bool, counts *claimCounts) error {
	nums := slices.Compact(slices.Sorted(slices.Values(counts.all)))
	args := make([]any, len(nums))
	for i, k := range nums {
		args[i] = "+" + strconv.FormatUint(k, 10)
	}
	return s.eachIn(ctx, claimsQuery, args, func(id, e164 string) {
		if !skip[id] {
			counts.add(e164)
		}
	})
}

// claimsQuery reads the stored holders of numbers, from users_e164.
const claimsQuery = "SELECT source_id, e164 FROM users WHERE outcome NOT IN ('SKIPPED') AND e164 IN ("

// inChunk is how many values one IN list of eachIn holds, well under
// either engine's limit on parameters.
const inChunk = 500

// eachIn runs q, which ends in "IN (", once per chunk of args, and hands
// the two text columns of each row to each.
func (s *Store) eachIn(ctx context.Context, q string, args []any, each func(a, b string)) error {
	for lo := 0; lo < len(args); lo += inChunk {
		part := args[lo:min(lo+inChunk, len(args))]
		if err := s.each2(ctx, q+"?"+strings.Repeat(",?", len(part)-1)+")", part, each); err != nil {
			return err
		}
	}
	return nil
}

// each2 runs q and hands the two text columns of each row to each.
func (s *Store) each2(ctx context.Context, q string, args []any, each func(a, b string)) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		each(a, b)
	}
	return rows.Err()
}

func joinIDs(ids []string) string { return strings.Join(ids, ";") }

// PruneRuns keeps the newest keep passes, their failures, traffic and the
// decisions they changed, and deletes the rest; the users' latest decisions
// stay whichever pass made them, and so does the history entry of each.
func (s *Store) PruneRuns(ctx context.Context, keep int) (int64, error) {
	if keep <= 0 {
		return 0, nil
	}
	const older = "SELECT id FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY started DESC, id DESC LIMIT ?)"
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("state store: %w", err)
	}
	defer tx.Rollback()
	if err := s.fence.prove(ctx, tx); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM run_failures WHERE run_id IN ("+older+")", keep); err != nil {
		return 0, fmt.Errorf("state store: prune: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM run_traffic WHERE run_id IN ("+older+")", keep); err != nil {
		return 0, fmt.Errorf("state store: prune: %w", err)
	}
	// A user's history keeps their newest decision whichever pass made it,
	// so that it always says since when the latest decision stands.
	if _, err := tx.ExecContext(ctx, "DELETE FROM user_decisions WHERE run_id IN ("+older+") AND (source_id NOT IN (SELECT source_id FROM users) "+
		"OR seq < (SELECT MAX(seq) FROM user_decisions d WHERE d.source_id = user_decisions.source_id))", keep); err != nil {
		return 0, fmt.Errorf("state store: prune: %w", err)
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE id IN ("+older+")", keep)
	if err != nil {
		return 0, fmt.Errorf("state store: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}
