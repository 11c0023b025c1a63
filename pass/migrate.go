package pass

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations is the state store's schema history: step i takes a store from
// version i to version i+1, the version being SQLite's PRAGMA user_version or PostgreSQL's
// schema_version table. A step in SQL PostgreSQL does not take has its
// PostgreSQL form in postgresSteps.
// Steps are plain SQL, only ever appended, and never change once released,
// so every store, whenever it was created, ends with the same schema.
var migrations = []string{
	// 1: the schema from before versioning. IF NOT EXISTS lets a store
	// created then take this step without harm.
	`CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, mode TEXT NOT NULL, full INTEGER NOT NULL,
  started TEXT NOT NULL, ended TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL, run_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (source_id TEXT PRIMARY KEY, email TEXT, display_name TEXT, work_phone TEXT, e164 TEXT,
  outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT, run_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS users_outcome ON users(outcome);
CREATE TABLE IF NOT EXISTS run_failures (run_id TEXT NOT NULL, seq INTEGER NOT NULL, source_id TEXT, email TEXT, display_name TEXT,
  work_phone TEXT, e164 TEXT, outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT,
  PRIMARY KEY (run_id, seq));`,
	// 2: what healing and monitoring remember of each user: the directory
	// record the latest decision was made on, when the user was first seen,
	// when the current failure began, when a person is next looked up and
	// how many times the same failure was decided again, and when the
	// licence landed. Users recorded before this step get the start of the
	// pass that last decided them as their first sighting and, when failing,
	// as the start of their failure; their record stays unknown until the
	// source reads them again.
	`ALTER TABLE users ADD COLUMN record TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN first_seen TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failing_since TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN next_lookup TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN lookups INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN provisioned_at TEXT NOT NULL DEFAULT '';
UPDATE users SET first_seen = COALESCE((SELECT strftime('%Y-%m-%dT%H:%M:%fZ', started) FROM runs WHERE runs.id = users.run_id), '');
UPDATE users SET failing_since = first_seen WHERE outcome = 'FAILED';`,
	// 3: which failure of each user the webhook has told of: its cause and
	// when it began. A failure with another cause, or one that began again
	// after the user was licensed, is told of anew.
	`ALTER TABLE users ADD COLUMN notified_cause TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN notified_since TEXT NOT NULL DEFAULT '';`,
	// 4: what the help-desk console reads. Indexes let a page of users
	// sorted by email, name, number or failure age, with or without an
	// outcome and cause filter, come from an index at 100,000 users.
	// user_decisions keeps each change of a user's decision (the pass and
	// what it decided), written by triggers on users so that every way a
	// decision lands is recorded; it is pruned with the passes.
	// run_traffic keeps the requests each pass sent to each side.
	`CREATE INDEX users_email ON users(email COLLATE NOCASE);
CREATE INDEX users_name ON users(display_name COLLATE NOCASE);
CREATE INDEX users_e164 ON users(e164);
CREATE INDEX users_outcome_cause_email ON users(outcome, cause, email COLLATE NOCASE);
CREATE INDEX users_outcome_since ON users(outcome, failing_since);
CREATE TABLE user_decisions (seq INTEGER PRIMARY KEY, source_id TEXT NOT NULL, run_id TEXT NOT NULL, at TEXT NOT NULL,
  email TEXT, display_name TEXT, work_phone TEXT, e164 TEXT, outcome TEXT, cause TEXT, detail TEXT, location_name TEXT);
CREATE INDEX user_decisions_user ON user_decisions(source_id, seq);
CREATE INDEX user_decisions_run ON user_decisions(run_id);
CREATE TRIGGER users_decided AFTER INSERT ON users BEGIN
  INSERT INTO user_decisions (source_id, run_id, at, email, display_name, work_phone, e164, outcome, cause, detail, location_name)
  VALUES (new.source_id, new.run_id, COALESCE((SELECT started FROM runs WHERE id = new.run_id), ''), new.email, new.display_name,
    new.work_phone, new.e164, new.outcome, new.cause, new.detail, new.location_name);
END;
CREATE TRIGGER users_decided_again AFTER UPDATE OF outcome, cause, detail, e164, work_phone, email, display_name ON users
WHEN old.outcome IS NOT new.outcome OR old.cause IS NOT new.cause OR old.detail IS NOT new.detail OR old.e164 IS NOT new.e164
  OR old.work_phone IS NOT new.work_phone OR old.email IS NOT new.email OR old.display_name IS NOT new.display_name BEGIN
  INSERT INTO user_decisions (source_id, run_id, at, email, display_name, work_phone, e164, outcome, cause, detail, location_name)
  VALUES (new.source_id, new.run_id, COALESCE((SELECT started FROM runs WHERE id = new.run_id), ''), new.email, new.display_name,
    new.work_phone, new.e164, new.outcome, new.cause, new.detail, new.location_name);
END;
INSERT INTO user_decisions (source_id, run_id, at, email, display_name, work_phone, e164, outcome, cause, detail, location_name)
  SELECT source_id, run_id, COALESCE((SELECT started FROM runs WHERE id = users.run_id), ''), email, display_name, work_phone, e164,
    outcome, cause, detail, location_name FROM users ORDER BY source_id;
CREATE TABLE run_traffic (run_id TEXT NOT NULL, side TEXT NOT NULL, requests INTEGER NOT NULL, retries INTEGER NOT NULL,
  throttled INTEGER NOT NULL, PRIMARY KEY (run_id, side));`,
	// 5: leases: which replica leads each organisation, under which epoch,
	// until when. Only a PostgreSQL store shared by replicas uses them (a
	// SQLite store has one process, under the instance lock); the table
	// is in both so that both keep one schema history.
	`CREATE TABLE leases (org TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch INTEGER NOT NULL, expires TEXT NOT NULL);`,
	// 6: the console's search reads one lower-case column holding what a
	// search matches (id, email, name, work phone, E.164, and the work
	// phone's digits, which each decision writes), from an index holding
	// it with the source id, far smaller than the users' rows; the
	// standing failures are counted per cause, with the oldest, from an
	// index alone. Users recorded before this step get the work phone's
	// digits at their next decision.
	`ALTER TABLE users ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE users SET search = lower(source_id || ' ' || COALESCE(email, '') || ' ' || COALESCE(display_name, '') || ' ' ||
  COALESCE(work_phone, '') || ' ' || COALESCE(e164, ''));
CREATE INDEX users_search ON users(search, source_id);
CREATE INDEX users_outcome_cause_since ON users(outcome, cause, failing_since);`,
	// 7: an incremental pass looks up the stored holders of the numbers and
	// emails its records carry instead of reading every stored user: by
	// number from users_e164, by email from the email trimmed of spaces and
	// in lower case (dialect.emailKey), and, for the few emails with a
	// character outside printable ASCII, from a partial index of them
	// (dialect.oddEmail).
	`CREATE INDEX users_email_key ON users(lower(trim(email)));
CREATE INDEX users_email_odd ON users(source_id) WHERE email GLOB '*[^ -~]*';`,
}

// postgresSteps holds, by step number, the few steps PostgreSQL takes in
// its own words: the same tables, columns and indexes as the SQLite step.
// "full" is quoted there (a reserved word) and a boolean; user_decisions
// numbers its rows with an identity column; NOCASE orderings are indexed as
// lower(column); the history triggers call a function; instr, SQLite's
// substring search, is strpos; the search column has no index (a B-tree
// entry has a size limit a long directory value could pass, and a
// substring search scans anyway).
var postgresSteps = map[int]string{
	1: `CREATE TABLE runs (id TEXT PRIMARY KEY, mode TEXT NOT NULL, "full" BOOLEAN NOT NULL,
  started TEXT NOT NULL, ended TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}');
CREATE TABLE checkpoints (source TEXT PRIMARY KEY, value TEXT NOT NULL, run_id TEXT NOT NULL);
CREATE TABLE users (source_id TEXT PRIMARY KEY, email TEXT, display_name TEXT, work_phone TEXT, e164 TEXT,
  outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT, run_id TEXT NOT NULL);
CREATE INDEX users_outcome ON users(outcome);
CREATE TABLE run_failures (run_id TEXT NOT NULL, seq INTEGER NOT NULL, source_id TEXT, email TEXT, display_name TEXT,
  work_phone TEXT, e164 TEXT, outcome TEXT, cause TEXT, detail TEXT, location_id TEXT, location_name TEXT, licenses TEXT,
  PRIMARY KEY (run_id, seq));`,
	2: `ALTER TABLE users ADD COLUMN record TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN first_seen TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN failing_since TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN next_lookup TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN lookups INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN provisioned_at TEXT NOT NULL DEFAULT '';
UPDATE users SET first_seen = COALESCE((SELECT to_char(started::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FROM runs WHERE runs.id = users.run_id), '');
UPDATE users SET failing_since = first_seen WHERE outcome = 'FAILED';`,
	4: `CREATE INDEX users_email ON users(lower(email));
CREATE INDEX users_name ON users(lower(display_name));
CREATE INDEX users_e164 ON users(e164);
CREATE INDEX users_outcome_cause_email ON users(outcome, cause, lower(email));
CREATE INDEX users_outcome_since ON users(outcome, failing_since);
CREATE TABLE user_decisions (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, source_id TEXT NOT NULL, run_id TEXT NOT NULL, at TEXT NOT NULL,
  email TEXT, display_name TEXT, work_phone TEXT, e164 TEXT, outcome TEXT, cause TEXT, detail TEXT, location_name TEXT);
CREATE INDEX user_decisions_user ON user_decisions(source_id, seq);
CREATE INDEX user_decisions_run ON user_decisions(run_id);
CREATE FUNCTION users_decided() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR old.outcome IS DISTINCT FROM new.outcome OR old.cause IS DISTINCT FROM new.cause
    OR old.detail IS DISTINCT FROM new.detail OR old.e164 IS DISTINCT FROM new.e164 OR old.work_phone IS DISTINCT FROM new.work_phone
    OR old.email IS DISTINCT FROM new.email OR old.display_name IS DISTINCT FROM new.display_name THEN
    INSERT INTO user_decisions (source_id, run_id, at, email, display_name, work_phone, e164, outcome, cause, detail, location_name)
    VALUES (new.source_id, new.run_id, COALESCE((SELECT started FROM runs WHERE id = new.run_id), ''), new.email, new.display_name,
      new.work_phone, new.e164, new.outcome, new.cause, new.detail, new.location_name);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER users_decided AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION users_decided();
CREATE TRIGGER users_decided_again AFTER UPDATE OF outcome, cause, detail, e164, work_phone, email, display_name ON users
  FOR EACH ROW EXECUTE FUNCTION users_decided();
INSERT INTO user_decisions (source_id, run_id, at, email, display_name, work_phone, e164, outcome, cause, detail, location_name)
  SELECT source_id, run_id, COALESCE((SELECT started FROM runs WHERE id = users.run_id), ''), email, display_name, work_phone, e164,
    outcome, cause, detail, location_name FROM users ORDER BY source_id;
CREATE TABLE run_traffic (run_id TEXT NOT NULL, side TEXT NOT NULL, requests INTEGER NOT NULL, retries INTEGER NOT NULL,
  throttled INTEGER NOT NULL, PRIMARY KEY (run_id, side));`,
	5: `CREATE TABLE leases (org TEXT PRIMARY KEY, owner TEXT NOT NULL, epoch BIGINT NOT NULL, expires TIMESTAMPTZ NOT NULL);`,
	6: `CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS 'SELECT strpos(haystack, needle)';
ALTER TABLE users ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE users SET search = lower(source_id || ' ' || COALESCE(email, '') || ' ' || COALESCE(display_name, '') || ' ' ||
  COALESCE(work_phone, '') || ' ' || COALESCE(e164, ''));
CREATE INDEX users_outcome_cause_since ON users(outcome, cause, failing_since);`,
	7: `CREATE INDEX users_email_key ON users(lower(trim(email) COLLATE "C"));
CREATE INDEX users_email_odd ON users(source_id) WHERE email ~ '[^ -~]';`,
}

// step returns schema step v (1-based) as the dialect's engine takes it.
func (d dialect) step(v int) string {
	if q, ok := postgresSteps[v]; ok && d == postgresDialect {
		return q
	}
	return migrations[v-1]
}

// newerSchemaError is the refusal of a store a newer licensync migrated.
func newerSchemaError(version int) error {
	return fmt.Errorf("schema version %d is newer than this licensync knows (%d): run the licensync that upgraded it, or a newer one", version, len(migrations))
}

// migrate brings the store's schema to the newest version this binary
// knows, in one transaction that also holds off other writers, and refuses
// a store a newer licensync has already migrated past it. A store already
// current is only read, so opening it never waits for a pass that is
// writing.
func migrate(ctx context.Context, db *sqlDB) error {
	if db.dialect == postgresDialect {
		return migratePostgres(ctx, db)
	}
	return migrateSQLite(ctx, db.DB)
}

// migrateSQLite keeps the version in PRAGMA user_version and holds off
// other writers with BEGIN IMMEDIATE.
func migrateSQLite(ctx context.Context, db *sql.DB) (err error) {
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current == len(migrations) {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return newerSchemaError(version)
	}
	for v := version; v < len(migrations); v++ {
		if _, err := conn.ExecContext(ctx, sqliteDialect.step(v+1)); err != nil {
			return fmt.Errorf("schema step %d: %w", v+1, err)
		}
	}
	if version < len(migrations) {
		// PRAGMA takes no parameters; the value is this binary's constant.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
			return err
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// schemaLock is the PostgreSQL advisory lock key replicas take while one
// of them migrates, so two starting together do not both take a step.
const schemaLock = 0x6c69_6373_796e_63 // "licsync"

// migratePostgres keeps the version in a schema_version table and holds
// off other replicas with a transaction-scoped advisory lock; PostgreSQL
// changes tables inside a transaction, so a step lands whole or not at all.
func migratePostgres(ctx context.Context, db *sqlDB) error {
	var current int
	if err := db.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&current); err == nil && current == len(migrations) {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(schemaLock)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return err
	}
	version := 0
	switch err := tx.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version) VALUES (0)"); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if version > len(migrations) {
		return newerSchemaError(version)
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, postgresDialect.step(v+1)); err != nil {
			return fmt.Errorf("schema step %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE schema_version SET version = ?", len(migrations)); err != nil {
		return err
	}
	return tx.Commit()
}
