package pass

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// dialect is what differs between the two engines the state store runs on.
// Queries are written once, in the SQL both accept, with ? placeholders;
// the dialect turns them into what its engine reads.
type dialect int

// The engines.
const (
	sqliteDialect dialect = iota
	postgresDialect
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// emailKey is the indexed expression of a stored email trimmed of spaces
// and in lower case, both ASCII only: for an email in printable ASCII it is
// normEmail's form. PostgreSQL lowers it under the C collation, which folds
// ASCII only whatever the database's locale.
func (d dialect) emailKey() string {
	if d == postgresDialect {
		return `lower(trim(email) COLLATE "C")`
	}
	return "lower(trim(email))"
}

// oddEmail selects, from a partial index, the stored emails with a
// character outside printable ASCII, for which emailKey may differ from
// normEmail's form.
func (d dialect) oddEmail() string {
	if d == postgresDialect {
		return "email ~ '[^ -~]'"
	}
	return "email GLOB '*[^ -~]*'"
}

// nocase matches a column compared without case the SQLite way; PostgreSQL
// has no NOCASE collation and compares lower(column), which its indexes
// hold (see postgresSteps).
var nocase = regexp.MustCompile(`([A-Za-z_][A-Za-z_0-9.]*) COLLATE NOCASE`)

// sql returns q as the engine reads it: on PostgreSQL, ? placeholders
// become $1, $2, … (none inside a quoted literal) and NOCASE comparisons
// become lower(column).
func (d dialect) sql(q string) string {
	if d != postgresDialect {
		return q
	}
	q = nocase.ReplaceAllString(q, "lower($1)")
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// sqlDB is the store's database with its dialect: every query passes
// through the dialect on its way to the engine.
type sqlDB struct {
	*sql.DB
	dialect dialect
	// stmts are the statements prepared for the store's life, by query.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// prepare prepares, once for the store's life, those of qs not prepared
// yet: the statements every batch of every pass runs are parsed once, not
// per transaction. It must not be called inside a transaction, which on
// SQLite holds the one connection.
func (x *sqlDB) prepare(ctx context.Context, qs ...string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, q := range qs {
		if _, ok := x.stmts[q]; ok {
			continue
		}
		st, err := x.DB.PrepareContext(ctx, x.dialect.sql(q))
		if err != nil {
			return err
		}
		if x.stmts == nil {
			x.stmts = map[string]*sql.Stmt{}
		}
		x.stmts[q] = st
	}
	return nil
}

// Close closes the prepared statements and the database.
func (x *sqlDB) Close() error {
	x.mu.Lock()
	for _, st := range x.stmts {
		st.Close()
	}
	x.stmts = nil
	x.mu.Unlock()
	return x.DB.Close()
}

// ExecContext runs q, rewritten for the engine.
func (x *sqlDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.DB.ExecContext(ctx, x.dialect.sql(q), args...)
}

// QueryContext runs q, rewritten for the engine.
func (x *sqlDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return x.DB.QueryContext(ctx, x.dialect.sql(q), args...)
}

// QueryRowContext runs q, rewritten for the engine.
func (x *sqlDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return x.DB.QueryRowContext(ctx, x.dialect.sql(q), args...)
}

// BeginTx starts a transaction whose queries are rewritten for the engine.
func (x *sqlDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sqlTx, error) {
	tx, err := x.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &sqlTx{Tx: tx, dialect: x.dialect, db: x}, nil
}

// sqlTx is a transaction of the store with its dialect.
type sqlTx struct {
	*sql.Tx
	dialect dialect
	db      *sqlDB
}

// ExecContext runs q in the transaction, rewritten for the engine.
func (x *sqlTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.Tx.ExecContext(ctx, x.dialect.sql(q), args...)
}

// QueryContext runs q in the transaction, rewritten for the engine.
func (x *sqlTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return x.Tx.QueryContext(ctx, x.dialect.sql(q), args...)
}

// QueryRowContext runs q in the transaction, rewritten for the engine.
func (x *sqlTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return x.Tx.QueryRowContext(ctx, x.dialect.sql(q), args...)
}

// stmt returns q, prepared for the store by prepare, for use in the
// transaction.
func (x *sqlTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	x.db.mu.Lock()
	st, ok := x.db.stmts[q]
	x.db.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("statement not prepared before the transaction: %.40s", q)
	}
	return x.Tx.StmtContext(ctx, st), nil
}
