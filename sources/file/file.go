// Package file is the CSV directory source: a directory export with the
// header id,email,display_name,work_phone,enabled,groups. It streams the file
// row by row. A row it cannot read whole is still a user when its id can be
// told: the user carries the line and the problem in Unreadable, so the pass
// fails that user and forgets nobody. A row without an id stops the pass
// with an error naming the file and the line, before anything is written.
package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// Columns is the header a directory file must carry (in any order).
var Columns = []string{"id", "email", "display_name", "work_phone", "enabled", "groups"}

// RowError is a row that could not be read whole. Its user is still emitted,
// marked unreadable; OnRowError lets the caller log it as it is met.
type RowError struct {
	Path string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// Source reads a directory CSV file.
type Source struct {
	path string
	// OnRowError receives every row that could not be read whole; nil
	// ignores them (their users fail as UNREADABLE_RECORD either way).
	OnRowError func(*RowError)
}

// New returns a source reading the CSV file at path.
func New(path string, onRowError func(*RowError)) *Source {
	return &Source{path: path, OnRowError: onRowError}
}

// Users streams every row of the file: a file has no change marker, so every
// pass is a full one.
func (s *Source) Users(ctx context.Context, _ string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return "", true, fmt.Errorf("file source: %w", err)
	}
	defer f.Close()
	return "", true, s.read(ctx, f, emit)
}

// UserByID reads the file again and returns the first row with the id, read
// as a pass reads it (an unreadable row gives a user marked Unreadable);
// licensing.ErrUserNotFound when no row has it.
func (s *Source) UserByID(ctx context.Context, id string) (licensing.DirectoryUser, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return licensing.DirectoryUser{}, fmt.Errorf("file source: %w", err)
	}
	defer f.Close()
	// A check reports no row errors: the pass does, and the user's own
	// problem is in Unreadable.
	quiet := &Source{path: s.path}
	var found licensing.DirectoryUser
	err = quiet.read(ctx, f, func(u licensing.DirectoryUser) error {
		if u.ID != id {
			return nil
		}
		found = u
		return errFound
	})
	switch {
	case errors.Is(err, errFound):
		return found, nil
	case err != nil:
		return licensing.DirectoryUser{}, err
	}
	return licensing.DirectoryUser{}, fmt.Errorf("file source: %s: id %q: %w", s.path, id, licensing.ErrUserNotFound)
}

// errFound stops the read at the row UserByID looks for.
var errFound = errors.New("found")

// Close releases nothing: the file is open only during Users.
func (s *Source) Close() error { return nil }

// rows is the CSV reader over the file. After a quote that is not closed on
// its own line the CSV reader has swallowed the lines that follow into one
// field; rows then starts a new reader on the line after the broken one, so
// those rows are read on their own instead of lost.
type rows struct {
	f io.ReadSeeker
	// start is the file offset the CSV reader began at, and lineBase the
	// number of lines before it.
	start    int64
	lineBase int
	cr       *csv.Reader
}

func (r *rows) restart(at int64, lineBase int) error {
	if _, err := r.f.Seek(at, io.SeekStart); err != nil {
		return err
	}
	r.start, r.lineBase = at, lineBase
	r.cr = csv.NewReader(bufio.NewReaderSize(r.f, 1<<16))
	r.cr.FieldsPerRecord = -1
	r.cr.ReuseRecord = true
	return nil
}

// skipRecordLine restarts the reader after the first non-empty line at or
// after off (relative to the current reader's start): the line a record
// began on. line is that line's number as the current reader counts.
func (r *rows) skipRecordLine(off int64, line int) error {
	at := r.start + off
	if _, err := r.f.Seek(at, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(r.f)
	for {
		b, err := br.ReadBytes('\n')
		at += int64(len(b))
		if err != nil || len(bytes.TrimRight(b, "\r\n")) > 0 {
			break
		}
	}
	return r.restart(at, r.lineBase+line)
}

func (s *Source) read(ctx context.Context, f io.ReadSeeker, emit func(licensing.DirectoryUser) error) error {
	r := &rows{f: f}
	var bom [3]byte
	start := int64(0)
	if n, _ := io.ReadFull(f, bom[:]); n == 3 && bytes.Equal(bom[:], []byte("\xef\xbb\xbf")) {
		start = 3
	}
	if err := r.restart(start, 0); err != nil {
		return fmt.Errorf("file source: %s: %w", s.path, err)
	}
	header, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("file source: %s is empty: it needs the header %s", s.path, strings.Join(Columns, ","))
		}
		return fmt.Errorf("file source: %s: header: %w", s.path, err)
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[strings.ToLower(strings.TrimSpace(h))] = i
	}
	var missing []string
	for _, c := range Columns {
		if _, ok := idx[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("file source: %s: header lacks column(s) %s (want %s)", s.path, strings.Join(missing, ", "), strings.Join(Columns, ","))
	}
	fields := len(header)
	get := func(rec []string, col string) string {
		if i := idx[col]; i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		off := r.cr.InputOffset()
		rec, err := r.cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var line int
		problem := ""
		// resync is set when the broken row swallowed the lines after it.
		resync := 0
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			// rec holds the fields read before the error: the id among them
			// still names the user.
			line = r.lineBase + pe.StartLine
			problem = fmt.Sprintf("column %d: %v", pe.Column, pe.Err)
			if pe.Line > pe.StartLine {
				problem = fmt.Sprintf("a quote opened on this line is not closed on it (%v at line %d)", pe.Err, r.lineBase+pe.Line)
				resync = pe.StartLine
			}
		case err != nil:
			return fmt.Errorf("file source: %s: %w", s.path, err)
		default:
			l, _ := r.cr.FieldPos(0)
			line = r.lineBase + l
			if len(rec) == 1 && rec[0] == "" {
				continue
			}
			if len(rec) != fields {
				problem = fmt.Sprintf("has %d fields, the header has %d", len(rec), fields)
			}
		}
		u := licensing.DirectoryUser{
			ID: get(rec, "id"), Email: get(rec, "email"), DisplayName: get(rec, "display_name"),
			WorkPhone: get(rec, "work_phone"),
		}
		if u.ID == "" {
			if problem == "" {
				problem = "id is empty"
			} else {
				problem += ", and no id can be read from the row"
			}
			return fmt.Errorf("file source: %s:%d: %s: correct the row; the pass stops before anything is written or forgotten", s.path, line, problem)
		}
		if problem == "" {
			switch en := strings.ToLower(get(rec, "enabled")); en {
			case "true", "yes", "1", "":
				u.Enabled = true
			case "false", "no", "0":
			default:
				problem = fmt.Sprintf("enabled is %q, want true or false", en)
			}
		}
		if problem == "" {
			if g := get(rec, "groups"); g != "" {
				for _, part := range strings.Split(g, ";") {
					if p := strings.TrimSpace(part); p != "" {
						u.Groups = append(u.Groups, p)
					}
				}
			}
		} else {
			u.Enabled = false
			u.Unreadable = fmt.Sprintf("line %d: %s", line, problem)
			s.report(&RowError{s.path, line, problem})
		}
		if resync > 0 {
			if err := r.skipRecordLine(off, resync); err != nil {
				return fmt.Errorf("file source: %s: %w", s.path, err)
			}
		}
		if err := emit(u); err != nil {
			return err
		}
	}
}

func (s *Source) report(e *RowError) {
	if s.OnRowError != nil {
		s.OnRowError(e)
	}
}
