package controlhub

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/licensync/licensync/licensing"
)

// The user columns of a Control Hub export that licensync reads. Headers
// compare case-insensitively and ignore spacing, so "User ID/Email(Required)"
// (as some exports spell it) is the email column too.
const (
	ColEmail       = "User ID/Email (Required)"
	ColFirstName   = "First Name"
	ColLastName    = "Last Name"
	ColDisplayName = "Display Name"
	ColPhoneNumber = "Phone Number"
	ColExtension   = "Extension"
	ColLocation    = "Location"
)

// suspendedMark is what Control Hub appends to the header of a service whose
// subscription is suspended.
const suspendedMark = "(Suspended)"

// serviceNames start the headers of licence columns that carry no
// subscription in brackets (organisations with a single subscription).
var serviceNames = []string{"webex calling", "webex contact center", "contact center", "webex meetings", "webex messaging", "customer experience"}

// Cell is the value of one licence cell: TRUE assigns, FALSE takes away (in
// the "Add and remove services" import only), empty changes nothing.
type Cell int8

// The values a licence cell can hold.
const (
	Empty Cell = iota
	True
	False
)

// String is the cell as Control Hub writes it: TRUE, FALSE or empty.
func (c Cell) String() string {
	switch c {
	case True:
		return "TRUE"
	case False:
		return "FALSE"
	}
	return ""
}

// LicenceColumn is one service column: a licence of one subscription.
type LicenceColumn struct {
	// Header is the column's header exactly as the file has it.
	Header string
	// Name and Subscription are the licence name and the subscription id
	// read from the header ("Name [Subscription]"); Subscription is empty
	// when the header carries none.
	Name         string
	Subscription string
	// Suspended is set when Control Hub marked the subscription suspended.
	Suspended bool
}

// Licence is the column as a licensing.Licence, for its category and agent kind.
func (c LicenceColumn) Licence() licensing.Licence {
	return licensing.Licence{Name: c.Name, SubscriptionID: c.Subscription}
}

// User is one user row of an export.
type User struct {
	// Line is the line of the file the row starts on (the header is line 1,
	// or later when the file starts with blank lines).
	Line        int
	Email       string
	FirstName   string
	LastName    string
	DisplayName string
	// PhoneNumber is the value as the file has it; a number a spreadsheet
	// stripped of its '+' stays stripped, for the decision to report.
	PhoneNumber string
	Extension   string
	Location    string
	// Licences has one cell per File.Licences column, in the same order.
	Licences []Cell
	// Extra holds every other column by its header, values as they are.
	Extra map[string]string
}

// Duplicate is an email that more than one row carries. Control Hub refuses
// such a file on import; Parse keeps the first row and says which it dropped.
type Duplicate struct {
	Email string
	// Lines are the rows that carry it; the first is the one kept.
	Lines []int
}

// String is the warning for the duplicated email, naming its lines.
func (d Duplicate) String() string {
	l := make([]string, len(d.Lines))
	for i, n := range d.Lines {
		l[i] = fmt.Sprint(n)
	}
	return fmt.Sprintf("%s appears on lines %s; line %d is used and the others are ignored", d.Email, strings.Join(l, ", "), d.Lines[0])
}

// File is a parsed export.
type File struct {
	// Name is the file name errors and warnings use.
	Name string
	// Header is the header row in file order.
	Header []string
	// Licences are the licence columns in file order.
	Licences []LicenceColumn
	Users    []User
	// Duplicates lists emails that several rows carry.
	Duplicates []Duplicate
}

// HasCalling reports whether u holds a Webex Calling user licence: a TRUE in
// any Calling column.
func (f *File) HasCalling(u *User) bool {
	for i, c := range f.Licences {
		if u.Licences[i] == True && c.Licence().IsCalling() {
			return true
		}
	}
	return false
}

// Licensed reports whether u holds any licence at all.
func (f *File) Licensed(u *User) bool {
	return slices.Contains(u.Licences, True)
}

// CallingColumns is how many Calling columns the file has. A file with none
// was exported without licences and cannot say who lacks Calling.
func (f *File) CallingColumns() int {
	n := 0
	for _, c := range f.Licences {
		if c.Licence().IsCalling() {
			n++
		}
	}
	return n
}

// ParseError is a row or a header Parse could not read.
type ParseError struct {
	File string
	// Line is 0 for a problem with the file as a whole.
	Line int
	// Column is the header of the column at fault, when there is one.
	Column string
	Msg    string
}

// Error names the file, the line and the column, then what is wrong.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Column != "" {
		b.WriteString(", column ")
		b.WriteString(quoted(e.Column))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// column roles while parsing.
const (
	roleExtra = iota
	roleEmail
	roleFirst
	roleLast
	roleDisplay
	rolePhone
	roleExtension
	roleLocation
	roleLicence
)

var roles = map[string]int{
	key(ColEmail): roleEmail, key("User ID/Email"): roleEmail,
	key(ColFirstName): roleFirst, key(ColLastName): roleLast, key(ColDisplayName): roleDisplay,
	key(ColPhoneNumber): rolePhone, key(ColExtension): roleExtension, key(ColLocation): roleLocation,
}

// key is a header compared case-insensitively and without spaces.
func key(h string) string {
	return strings.ToLower(strings.Join(strings.Fields(h), ""))
}

// licenceColumn reads a service column's header; ok is false for any other.
func licenceColumn(h string) (LicenceColumn, bool) {
	c := LicenceColumn{Header: h}
	rest := strings.TrimSpace(h)
	// Compared in place: lower-casing the whole header could change its
	// length and move the mark.
	if i := len(rest) - len(suspendedMark); i >= 0 && strings.EqualFold(rest[i:], suspendedMark) {
		c.Suspended = true
		rest = strings.TrimSpace(rest[:i])
	}
	bracketed := false
	if strings.HasSuffix(rest, "]") {
		if open := strings.LastIndexByte(rest, '['); open > 0 {
			c.Subscription = strings.TrimSpace(rest[open+1 : len(rest)-1])
			rest = strings.TrimSpace(rest[:open])
			bracketed = true
		}
	}
	c.Name = rest
	if bracketed || c.Suspended {
		return c, c.Name != ""
	}
	lower := strings.ToLower(c.Name)
	for _, s := range serviceNames {
		if strings.HasPrefix(lower, s) {
			return c, true
		}
	}
	return LicenceColumn{}, false
}

// Parse reads a Control Hub user export. name is the file name errors carry.
func Parse(r io.Reader, name string) (*File, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	f := &File{Name: name}
	fail := func(line int, col, format string, args ...any) error {
		return &ParseError{File: name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
	}
	var header []string
	for header == nil {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "", "the file is empty; export it from Control Hub (Users > Manage users by CSV > Export CSV, with User licenses)")
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		if !blank(rec) {
			header = rec
		}
	}
	role := make([]int, len(header))
	licIndex := make([]int, len(header))
	seen := map[string]int{}
	emailCol := -1
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		line, _ := cr.FieldPos(i)
		if h == "" {
			return nil, fail(line, "", "column %d of the header has no name", i+1)
		}
		if j, dup := seen[key(h)]; dup {
			return nil, fail(line, h, "the header names this column twice (columns %d and %d)", j+1, i+1)
		}
		seen[key(h)] = i
		if r, ok := roles[key(h)]; ok {
			role[i] = r
			if r == roleEmail {
				emailCol = i
			}
			continue
		}
		if c, ok := licenceColumn(h); ok {
			role[i] = roleLicence
			licIndex[i] = len(f.Licences)
			f.Licences = append(f.Licences, c)
		}
	}
	f.Header = header
	if emailCol < 0 {
		line, _ := cr.FieldPos(0)
		return nil, fail(line, "", "no %q column: is this a Control Hub user export? The header has: %s", ColEmail, headerSummary(header))
	}
	byEmail := map[string]int{}
	dupAt := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(rec) != len(header) {
			return nil, fail(line, "", "the row has %d fields and the header %d; a value with a comma must be in double quotes", len(rec), len(header))
		}
		u := User{Line: line, Licences: make([]Cell, len(f.Licences))}
		for i, v := range rec {
			switch role[i] {
			case roleEmail:
				u.Email = strings.TrimSpace(v)
			case roleFirst:
				u.FirstName = v
			case roleLast:
				u.LastName = v
			case roleDisplay:
				u.DisplayName = v
			case rolePhone:
				u.PhoneNumber = strings.TrimSpace(v)
			case roleExtension:
				u.Extension = strings.TrimSpace(v)
			case roleLocation:
				u.Location = v
			case roleLicence:
				c, ok := cell(v)
				if !ok {
					return nil, fail(line, header[i], "%s is not TRUE, FALSE or empty", quoted(v))
				}
				u.Licences[licIndex[i]] = c
			default:
				if u.Extra == nil {
					u.Extra = map[string]string{}
				}
				u.Extra[header[i]] = v
			}
		}
		if u.Email == "" {
			return nil, fail(line, header[emailCol], "the row has no email; every user row needs one")
		}
		if !strings.Contains(u.Email, "@") {
			return nil, fail(line, header[emailCol], "%s is not an email address", quoted(u.Email))
		}
		k := strings.ToLower(u.Email)
		if first, dup := byEmail[k]; dup {
			d, ok := dupAt[k]
			if !ok {
				d = len(f.Duplicates)
				dupAt[k] = d
				f.Duplicates = append(f.Duplicates, Duplicate{Email: f.Users[first].Email, Lines: []int{f.Users[first].Line}})
			}
			f.Duplicates[d].Lines = append(f.Duplicates[d].Lines, line)
			continue
		}
		byEmail[k] = len(f.Users)
		f.Users = append(f.Users, u)
	}
	return f, nil
}

// cell reads a licence cell the way Control Hub does: TRUE/T and FALSE/F in
// any case, empty for no change.
func cell(v string) (Cell, bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "":
		return Empty, true
	case "TRUE", "T":
		return True, true
	case "FALSE", "F":
		return False, true
	}
	return Empty, false
}

func blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// maxQuoted is the most characters of text from the file an error quotes: a
// header can be a whole 50 MB file, or binary.
const maxQuoted = 200

// quoted is s as an error quotes it: in double quotes, with control
// characters and bytes that are not UTF-8 escaped, and cut short after
// maxQuoted characters, saying how much was left out.
func quoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		q := strconv.Quote(s[i : i+size])
		if b.Len()-1+len(q)-2 > maxQuoted { // without the quotes
			fmt.Fprintf(&b, `"... (%d more bytes)`, len(s)-i)
			return b.String()
		}
		b.WriteString(q[1 : len(q)-1])
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// headerSummary quotes a header's columns, as many as fit in about
// maxQuoted characters, and counts the rest.
func headerSummary(header []string) string {
	var b strings.Builder
	for i, h := range header {
		if b.Len() >= maxQuoted {
			fmt.Fprintf(&b, " and %d more columns", len(header)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoted(h))
	}
	return b.String()
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: name, Line: pe.Line, Msg: fmt.Sprintf("%v (at character %d of the line)", pe.Err, pe.Column)}
	}
	return fmt.Errorf("%s: %w", name, err)
}
