// Package offline is the embedded calling organisation: locations, the
// number inventory, licences and people kept in a local SQLite file, seeded
// from CSVs. It refuses what the Webex service would refuse (no free unit, a
// number owned by someone else, a location without Calling), one transaction
// per user, so the whole job runs with no network and no account.
package offline

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite: no cgo, one static binary

	"github.com/licensync/licensync/licensing"
)

const schema = `
CREATE TABLE IF NOT EXISTS locations (id TEXT PRIMARY KEY, name TEXT NOT NULL, calling_enabled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS numbers (phone_number TEXT PRIMARY KEY, extension TEXT NOT NULL, location_id TEXT NOT NULL,
  state TEXT NOT NULL, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS licenses (id TEXT PRIMARY KEY, name TEXT NOT NULL, subscription_id TEXT NOT NULL,
  total_units INTEGER NOT NULL, consumed_units INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
  licenses TEXT NOT NULL, phone_number TEXT NOT NULL, location_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workspaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, licenses TEXT NOT NULL,
  phone_number TEXT NOT NULL, extension TEXT NOT NULL, location_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL, licenses TEXT NOT NULL,
  phone_number TEXT NOT NULL, location_id TEXT NOT NULL, removed TEXT NOT NULL DEFAULT '');
`

// migrate brings an organisation created by an older licensync up to the
// schema: the audit trail did not record removals.
func migrate(db *sql.DB) error {
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM pragma_table_info('audit') WHERE name = 'removed'").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		_, err := db.Exec("ALTER TABLE audit ADD COLUMN removed TEXT NOT NULL DEFAULT ''")
		return err
	}
	return nil
}

// Org is a calling organisation in a SQLite file.
type Org struct {
	db *sql.DB
	// people finds people by email; prepared once, since a pass asks it
	// once per batch of users.
	people *sql.Stmt
}

// Open opens (creating if needed) the organisation at path; a new database is
// seeded from the CSV folder seed when one is given.
func Open(path, seed string) (*Org, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("offline org: %w", err)
	}
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("offline org %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	o := &Org{db: db}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("offline org %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("offline org %s: %w", path, err)
	}
	if o.people, err = db.Prepare("SELECT id, email, display_name, licenses, phone_number, location_id FROM people WHERE email IN (SELECT value FROM json_each(?))"); err != nil {
		db.Close()
		return nil, fmt.Errorf("offline org %s: %w", path, err)
	}
	// The seed is one transaction, so an org with no rows was never seeded,
	// or its seeding was killed: either way it is seeded now. Testing the
	// rows rather than whether the file existed keeps a crash during the
	// first open from leaving an empty org behind for good.
	var rows int
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM locations) + (SELECT COUNT(*) FROM numbers) + (SELECT COUNT(*) FROM licenses) + (SELECT COUNT(*) FROM people)").Scan(&rows); err != nil {
		db.Close()
		return nil, fmt.Errorf("offline org %s: %w", path, err)
	}
	if rows == 0 && seed != "" {
		if err := o.Seed(seed); err != nil {
			db.Close()
			if fresh {
				for _, suffix := range []string{"", "-wal", "-shm"} {
					_ = os.Remove(path + suffix)
				}
			}
			return nil, err
		}
	}
	return o, nil
}

// Close closes the database.
func (o *Org) Close() error {
	o.people.Close()
	return o.db.Close()
}

// Seed loads locations.csv, numbers.csv, licenses.csv, people.csv and the
// optional workspaces.csv from dir in one transaction: a broken file or a
// crash leaves the organisation empty.
func (o *Org) Seed(dir string) error {
	tx, err := o.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	files := []struct {
		name, insert string
		cols         []string
		check        func(rec map[string]string) error
	}{
		{"locations.csv", "INSERT INTO locations VALUES (?,?,?)", []string{"id", "name", "calling_enabled"}, func(r map[string]string) error {
			return boolField(r, "calling_enabled")
		}},
		{"numbers.csv", "INSERT INTO numbers VALUES (?,?,?,?,?,?)", []string{"phone_number", "extension", "location_id", "state", "owner_type", "owner_id"}, func(r map[string]string) error {
			// The inventory holds valid numbers in E.164 only, as the
			// service's does: the pass relies on it to take a directory
			// number found there as valid without parsing it.
			n := r["phone_number"]
			if !strings.HasPrefix(n, "+") {
				return fmt.Errorf("phone_number %q is not E.164", n)
			}
			e164, err := licensing.NormalisePhone(n, "")
			if err != nil {
				return fmt.Errorf("phone_number %q is not a valid number: %s", n, err.(*licensing.PhoneError).Reason)
			}
			if e164 != n {
				return fmt.Errorf("phone_number %q is not written in E.164: %s", n, e164)
			}
			r["owner_type"] = strings.ToUpper(r["owner_type"])
			if (r["owner_type"] == "") != (r["owner_id"] == "") {
				return errors.New("owner_type and owner_id go together")
			}
			return nil
		}},
		{"licenses.csv", "INSERT INTO licenses VALUES (?,?,?,?,?,?)", []string{"id", "name", "subscription_id", "total_units", "consumed_units", "status"}, func(r map[string]string) error {
			units := map[string]int{}
			for _, k := range []string{"total_units", "consumed_units"} {
				n, err := strconv.Atoi(r[k])
				if err != nil {
					return fmt.Errorf("%s %q is not a whole number", k, r[k])
				}
				if n < 0 {
					return fmt.Errorf("%s %d is negative", k, n)
				}
				units[k] = n
			}
			if units["consumed_units"] > units["total_units"] {
				return fmt.Errorf("consumed_units %d is above total_units %d", units["consumed_units"], units["total_units"])
			}
			switch r["status"] = strings.ToUpper(r["status"]); r["status"] {
			case licensing.StatusActive, licensing.StatusSuspended, licensing.StatusExpired:
				return nil
			case "":
				r["status"] = licensing.StatusActive
				return nil
			}
			return fmt.Errorf("status %q is not ACTIVE, SUSPENDED or EXPIRED", r["status"])
		}},
		{"people.csv", "INSERT INTO people VALUES (?,?,?,?,?,?)", []string{"id", "email", "display_name", "licenses", "phone_number", "location_id"}, func(r map[string]string) error {
			r["email"] = strings.ToLower(r["email"])
			return nil
		}},
		{"workspaces.csv", "INSERT INTO workspaces VALUES (?,?,?,?,?,?)", []string{"id", "name", "licenses", "phone_number", "extension", "location_id"}, func(r map[string]string) error {
			return nil
		}},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := loadCSV(tx, p, f.insert, f.cols, f.check); err != nil {
			return fmt.Errorf("offline org seed: %w", err)
		}
	}
	return tx.Commit()
}

func boolField(r map[string]string, k string) error {
	switch strings.ToLower(r[k]) {
	case "true", "1", "yes":
		r[k] = "1"
	case "false", "0", "no", "":
		r[k] = "0"
	default:
		return fmt.Errorf("%s %q is not true or false", k, r[k])
	}
	return nil
}

func loadCSV(tx *sql.Tx, path, insert string, cols []string, check func(map[string]string) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header: %w", path, err)
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")] = i
	}
	for _, c := range cols {
		if _, ok := idx[c]; !ok {
			return fmt.Errorf("%s: header lacks column %s", path, c)
		}
	}
	stmt, err := tx.Prepare(insert)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		r := map[string]string{}
		for _, c := range cols {
			r[c] = strings.TrimSpace(rec[idx[c]])
		}
		if err := check(r); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		args := make([]any, len(cols))
		for i, c := range cols {
			args[i] = r[c]
		}
		if _, err := stmt.Exec(args...); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
	}
}

// Snapshot loads locations, numbers and licences.
func (o *Org) Snapshot(ctx context.Context) (*licensing.Org, error) {
	org := licensing.NewOrg()
	rows, err := o.db.QueryContext(ctx, "SELECT id, name, calling_enabled FROM locations")
	if err != nil {
		return nil, fmt.Errorf("offline org: locations: %w", err)
	}
	for rows.Next() {
		var l licensing.Location
		if err := rows.Scan(&l.ID, &l.Name, &l.CallingEnabled); err != nil {
			rows.Close()
			return nil, err
		}
		org.Locations[l.ID] = l
	}
	rows.Close()
	rows, err = o.db.QueryContext(ctx, "SELECT phone_number, extension, location_id, state, owner_type, owner_id FROM numbers")
	if err != nil {
		return nil, fmt.Errorf("offline org: numbers: %w", err)
	}
	for rows.Next() {
		var n licensing.Number
		if err := rows.Scan(&n.E164, &n.Extension, &n.LocationID, &n.State, &n.OwnerType, &n.OwnerID); err != nil {
			rows.Close()
			return nil, err
		}
		org.Numbers.Set(n)
	}
	rows.Close()
	rows, err = o.db.QueryContext(ctx, "SELECT id, name, subscription_id, total_units, consumed_units, status FROM licenses")
	if err != nil {
		return nil, fmt.Errorf("offline org: licenses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l licensing.Licence
		if err := rows.Scan(&l.ID, &l.Name, &l.SubscriptionID, &l.TotalUnits, &l.ConsumedUnits, &l.Status); err != nil {
			return nil, err
		}
		org.Licences[l.ID] = l
	}
	return org, rows.Err()
}

// People looks the emails up in one query per call.
func (o *Org) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	out := make(map[string]licensing.Person, len(emails))
	if len(emails) == 0 {
		return out, nil
	}
	lower := make([]string, len(emails))
	for i, e := range emails {
		lower[i] = strings.ToLower(e)
	}
	// One statement for any number of emails, passed as a JSON array.
	list, err := json.Marshal(lower)
	if err != nil {
		return nil, fmt.Errorf("offline org: people: %w", err)
	}
	rows, err := o.people.QueryContext(ctx, string(list))
	if err != nil {
		return nil, fmt.Errorf("offline org: people: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p licensing.Person
		var lics string
		if err := rows.Scan(&p.ID, &p.Email, &p.DisplayName, &lics, &p.PhoneNumber, &p.LocationID); err != nil {
			return nil, err
		}
		p.Licences = splitList(lics)
		out[p.Email] = p
	}
	return out, rows.Err()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Apply applies each change in its own transaction. When ctx ends midway,
// the changes not attempted carry the context's error, so none of them reads
// as applied, and the second result says the pass must stop.
func (o *Org) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	return applyEach(ctx, len(changes), func(i int) error { return o.apply(ctx, changes[i]) })
}

// applyEach makes the writes 0..n-1 one after the other and returns one
// error per write. A write not attempted because ctx ended carries an error
// naming why; it is never left nil.
func applyEach(ctx context.Context, n int, write func(i int) error) ([]error, error) {
	errs := make([]error, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			for j := i; j < n; j++ {
				errs[j] = fmt.Errorf("offline org: not applied, the pass stopped: %w", err)
			}
			return errs, err
		}
		errs[i] = write(i)
	}
	return errs, nil
}

func refuse(c licensing.Cause, format string, args ...any) error {
	return &licensing.ApplyError{Cause: c, Detail: fmt.Sprintf(format, args...), Status: 400}
}

// apply makes one change in one transaction: the removals and the
// additions land together or not at all, so a move never leaves a person
// without Calling.
func (o *Org) apply(ctx context.Context, c licensing.Change) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var lics, phone string
	err = tx.QueryRowContext(ctx, "SELECT licenses, phone_number FROM people WHERE id = ?", c.PersonID).Scan(&lics, &phone)
	if errors.Is(err, sql.ErrNoRows) {
		return refuse(licensing.CauseWebexUserNotFound, "person %s does not exist", c.PersonID)
	}
	if err != nil {
		return err
	}
	held := splitList(lics)
	removedCalling := false
	var removed []string
	for _, id := range c.Remove {
		i := slices.Index(held, id)
		if i < 0 {
			continue // already gone: removing is idempotent
		}
		l, err := licence(ctx, tx, id)
		if err != nil {
			return err
		}
		if l.IsCalling() {
			removedCalling = true
		}
		held = slices.Delete(held, i, i+1)
		removed = append(removed, id)
		if _, err := tx.ExecContext(ctx, "UPDATE licenses SET consumed_units = consumed_units - 1 WHERE id = ? AND consumed_units > 0", id); err != nil {
			return err
		}
	}
	kept := len(held)
	held, calling, err := take(ctx, tx, held, c.Licences)
	if err != nil {
		return err
	}
	if len(held) == kept && len(removed) == 0 {
		return unchanged("person "+c.PersonID, c.Licences, c.Remove)
	}
	if err := holdable(ctx, tx, held); err != nil {
		return err
	}
	location := ""
	switch {
	case calling:
		if c.PhoneNumber == "" || c.LocationID == "" {
			return refuse(licensing.CauseAPIError, "a Calling licence needs a phone number and a location")
		}
		var loc, ownerType, ownerID string
		err := tx.QueryRowContext(ctx, "SELECT location_id, owner_type, owner_id FROM numbers WHERE phone_number = ?", c.PhoneNumber).Scan(&loc, &ownerType, &ownerID)
		if errors.Is(err, sql.ErrNoRows) {
			return refuse(licensing.CauseNumberNotProvisioned, "%s is not in the inventory", c.PhoneNumber)
		}
		if err != nil {
			return err
		}
		if loc != c.LocationID {
			return refuse(licensing.CauseNumberLocationInvalid, "%s belongs to location %s, not %s", c.PhoneNumber, loc, c.LocationID)
		}
		var enabled bool
		if err := tx.QueryRowContext(ctx, "SELECT calling_enabled FROM locations WHERE id = ?", loc).Scan(&enabled); err != nil || !enabled {
			return refuse(licensing.CauseNumberLocationInvalid, "location %s cannot provision users", loc)
		}
		if ownerID != "" && ownerID != c.PersonID {
			return refuse(licensing.CauseNumberAssignedToOther, "%s is assigned to %s %s", c.PhoneNumber, ownerType, ownerID)
		}
		if removedCalling && phone != "" && phone != c.PhoneNumber {
			if err := release(ctx, tx, phone, c.PersonID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE numbers SET owner_type = ?, owner_id = ? WHERE phone_number = ?", licensing.OwnerPeople, c.PersonID, c.PhoneNumber); err != nil {
			return err
		}
		phone, location = c.PhoneNumber, c.LocationID
	case removedCalling:
		// Calling is gone and nothing replaces it: the number is free again.
		if err := release(ctx, tx, phone, c.PersonID); err != nil {
			return err
		}
		phone = ""
	}
	if _, err := tx.ExecContext(ctx, "UPDATE people SET licenses = ?, phone_number = ?, location_id = CASE WHEN ? THEN ? WHEN ? THEN '' ELSE location_id END WHERE id = ?",
		strings.Join(held, ";"), phone, calling, location, removedCalling, c.PersonID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO audit (person_id, licenses, phone_number, location_id, removed) VALUES (?,?,?,?,?)",
		c.PersonID, strings.Join(c.Licences, ";"), c.PhoneNumber, c.LocationID, strings.Join(removed, ";")); err != nil {
		return err
	}
	return tx.Commit()
}

func licence(ctx context.Context, tx *sql.Tx, id string) (licensing.Licence, error) {
	l := licensing.Licence{ID: id}
	err := tx.QueryRowContext(ctx, "SELECT name, subscription_id FROM licenses WHERE id = ?", id).Scan(&l.Name, &l.SubscriptionID)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	return l, err
}

// holdable refuses what the service refuses a person to end up holding: two
// Calling licences, or both Contact Center agent kinds.
func holdable(ctx context.Context, tx *sql.Tx, held []string) error {
	var calling, agents []string
	kinds := map[string]bool{}
	for _, id := range held {
		l, err := licence(ctx, tx, id)
		if err != nil {
			return err
		}
		if l.IsCalling() {
			calling = append(calling, id)
		}
		if k := l.AgentKind(); k != "" {
			kinds[k] = true
			agents = append(agents, id)
		}
	}
	if len(calling) > 1 {
		return refuse(licensing.CauseAPIError, "a person holds one Calling licence, and this change would leave %s: remove the old one in the same request", strings.Join(calling, " and "))
	}
	if len(kinds) > 1 {
		return refuse(licensing.CauseAgentLicenceConflict, "a person holds one Contact Center agent licence, and this change would leave %s", strings.Join(agents, " and "))
	}
	return nil
}

// unchanged is the refusal of a change that would change nothing: the
// holder already has every licence to add and none to remove, so the pass
// must not report it applied.
func unchanged(holder string, add, remove []string) error {
	var parts []string
	if len(add) > 0 {
		parts = append(parts, "already holds "+strings.Join(add, ", "))
	}
	if len(remove) > 0 {
		parts = append(parts, "holds none of "+strings.Join(remove, ", ")+" to remove")
	}
	if len(parts) == 0 {
		return refuse(licensing.CauseAPIError, "nothing was changed: the change for %s adds and removes nothing", holder)
	}
	return refuse(licensing.CauseAPIError, "nothing was changed: %s %s", holder, strings.Join(parts, " and "))
}

// release frees a person's number.
func release(ctx context.Context, tx *sql.Tx, phone, person string) error {
	_, err := tx.ExecContext(ctx, "UPDATE numbers SET owner_type = '', owner_id = '' WHERE phone_number = ? AND owner_type = ? AND owner_id = ?", phone, licensing.OwnerPeople, person)
	return err
}

// Holders returns the people who hold the licence id, for a subscription
// move.
func (o *Org) Holders(ctx context.Context, id string) ([]licensing.Person, error) {
	rows, err := o.db.QueryContext(ctx, "SELECT id, email, display_name, licenses, phone_number, location_id FROM people WHERE instr(';' || licenses || ';', ?) > 0 ORDER BY email",
		";"+id+";")
	if err != nil {
		return nil, fmt.Errorf("offline org: holders of %s: %w", id, err)
	}
	defer rows.Close()
	var out []licensing.Person
	for rows.Next() {
		var p licensing.Person
		var lics string
		if err := rows.Scan(&p.ID, &p.Email, &p.DisplayName, &lics, &p.PhoneNumber, &p.LocationID); err != nil {
			return nil, err
		}
		p.Licences = splitList(lics)
		out = append(out, p)
	}
	return out, rows.Err()
}

// WorkspaceHolders returns the workspaces that hold the licence id, for a
// subscription move.
func (o *Org) WorkspaceHolders(ctx context.Context, id string) ([]licensing.Workspace, error) {
	rows, err := o.db.QueryContext(ctx, "SELECT id, name, licenses, phone_number, extension, location_id FROM workspaces WHERE instr(';' || licenses || ';', ?) > 0 ORDER BY name, id", ";"+id+";")
	if err != nil {
		return nil, fmt.Errorf("offline org: workspaces holding %s: %w", id, err)
	}
	defer rows.Close()
	var out []licensing.Workspace
	for rows.Next() {
		var w licensing.Workspace
		var lics string
		if err := rows.Scan(&w.ID, &w.Name, &lics, &w.PhoneNumber, &w.Extension, &w.LocationID); err != nil {
			return nil, err
		}
		w.Licences = splitList(lics)
		out = append(out, w)
	}
	return out, rows.Err()
}

// take consumes a unit of each licence in ids that held lacks, refusing an
// unknown, inactive or exhausted one, and reports whether a Calling licence
// was among those taken.
func take(ctx context.Context, tx *sql.Tx, held, ids []string) ([]string, bool, error) {
	calling := false
	for _, id := range ids {
		if slices.Contains(held, id) {
			continue
		}
		var name, status string
		var total, used int
		err := tx.QueryRowContext(ctx, "SELECT name, status, total_units, consumed_units FROM licenses WHERE id = ?", id).Scan(&name, &status, &total, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, refuse(licensing.CauseLicenceUnavailable, "licence %s does not exist", id)
		}
		if err != nil {
			return nil, false, err
		}
		if status != licensing.StatusActive {
			return nil, false, refuse(licensing.CauseLicenceUnavailable, "%s is %s", name, strings.ToLower(status))
		}
		if used >= total {
			return nil, false, refuse(licensing.CauseLicenceUnavailable, "%s has no free units", name)
		}
		if (licensing.Licence{Name: name}).IsCalling() {
			calling = true
		}
		if _, err := tx.ExecContext(ctx, "UPDATE licenses SET consumed_units = consumed_units + 1 WHERE id = ?", id); err != nil {
			return nil, false, err
		}
		held = append(held, id)
	}
	return held, calling, nil
}

// ApplyWorkspaces moves workspaces' licences, each in its own transaction:
// the new licence needs a free unit, the old one's unit is freed, and the
// number, extension and location stay.
func (o *Org) ApplyWorkspaces(ctx context.Context, changes []licensing.WorkspaceChange) ([]error, error) {
	return applyEach(ctx, len(changes), func(i int) error { return o.applyWorkspace(ctx, changes[i]) })
}

func (o *Org) applyWorkspace(ctx context.Context, c licensing.WorkspaceChange) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var lics string
	err = tx.QueryRowContext(ctx, "SELECT licenses FROM workspaces WHERE id = ?", c.WorkspaceID).Scan(&lics)
	if errors.Is(err, sql.ErrNoRows) {
		return refuse(licensing.CauseAPIError, "workspace %s does not exist", c.WorkspaceID)
	}
	if err != nil {
		return err
	}
	held := splitList(lics)
	var removed []string
	for _, id := range c.Remove {
		if i := slices.Index(held, id); i >= 0 {
			held = slices.Delete(held, i, i+1)
			removed = append(removed, id)
			if _, err := tx.ExecContext(ctx, "UPDATE licenses SET consumed_units = consumed_units - 1 WHERE id = ? AND consumed_units > 0", id); err != nil {
				return err
			}
		}
	}
	kept := len(held)
	held, _, err = take(ctx, tx, held, c.Licences)
	if err != nil {
		return err
	}
	if len(held) == kept && len(removed) == 0 {
		return unchanged("workspace "+c.WorkspaceID, c.Licences, c.Remove)
	}
	calling := 0
	for _, id := range held {
		l, err := licence(ctx, tx, id)
		if err != nil {
			return err
		}
		if l.IsCalling() || l.Category() == licensing.CategoryWorkspaceCalling {
			calling++
		}
	}
	if calling > 1 {
		return refuse(licensing.CauseAPIError, "a workspace holds one Calling licence: remove the old one in the same request")
	}
	if _, err := tx.ExecContext(ctx, "UPDATE workspaces SET licenses = ? WHERE id = ?", strings.Join(held, ";"), c.WorkspaceID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO audit (person_id, licenses, phone_number, location_id, removed) VALUES (?,?,?,?,?)",
		c.WorkspaceID, strings.Join(c.Licences, ";"), c.PhoneNumber, c.LocationID, strings.Join(removed, ";")); err != nil {
		return err
	}
	return tx.Commit()
}

// Writes returns how many changes the organisation has applied since it was
// created: the audit trail tests and operators use to prove idempotence.
func (o *Org) Writes(ctx context.Context) (int, error) {
	var n int
	err := o.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit").Scan(&n)
	return n, err
}
