// Package file is the CSV directory source: a directory export with the
// header id,email,display_name,work_phone,enabled,groups. It streams the file
// row by row; a broken row is reported with its line number and the pass goes
// on with the rest.
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

// RowError is a row that could not be read; the source reports it and goes on.
type RowError struct {
	Path string
	Line int
	Msg  string
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// Source reads a directory CSV file.
type Source struct {
	path string
	// OnRowError receives every broken row; nil drops them.
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

// Close releases nothing: the file is open only during Users.
func (s *Source) Close() error { return nil }

func (s *Source) read(ctx context.Context, r io.Reader, emit func(licensing.DirectoryUser) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
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
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				s.report(&RowError{s.path, pe.StartLine, pe.Err.Error()})
				continue
			}
			return fmt.Errorf("file source: %s: %w", s.path, err)
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		if len(rec) != len(header) {
			s.report(&RowError{s.path, line, fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))})
			continue
		}
		u := licensing.DirectoryUser{
			ID: get(rec, "id"), Email: get(rec, "email"), DisplayName: get(rec, "display_name"),
			WorkPhone: get(rec, "work_phone"),
		}
		if u.ID == "" {
			s.report(&RowError{s.path, line, "id is empty"})
			continue
		}
		switch en := strings.ToLower(get(rec, "enabled")); en {
		case "true", "yes", "1", "":
			u.Enabled = true
		case "false", "no", "0":
		default:
			s.report(&RowError{s.path, line, fmt.Sprintf("enabled is %q, want true or false (user %s)", en, u.ID)})
			continue
		}
		if g := get(rec, "groups"); g != "" {
			for _, part := range strings.Split(g, ";") {
				if p := strings.TrimSpace(part); p != "" {
					u.Groups = append(u.Groups, p)
				}
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
