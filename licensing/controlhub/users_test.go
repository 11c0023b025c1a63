package controlhub

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file (run go test -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func parseFile(t *testing.T, name string) *File {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", "users", name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := Parse(fh, name)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f
}

// dump renders a parsed file for the golden comparison.
func dump(f *File) string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %s\nlicence columns:\n", f.Name)
	for _, c := range f.Licences {
		kind := c.Licence().Category()
		if k := c.Licence().AgentKind(); k != "" {
			kind += "/" + k
		}
		fmt.Fprintf(&b, "  %q: name %q, subscription %q, %s, suspended %v\n", c.Header, c.Name, c.Subscription, kind, c.Suspended)
	}
	b.WriteString("users:\n")
	for i := range f.Users {
		u := &f.Users[i]
		fmt.Fprintf(&b, "  line %d %s: first %q last %q display %q phone %q extension %q location %q calling %v licensed %v\n",
			u.Line, u.Email, u.FirstName, u.LastName, u.DisplayName, u.PhoneNumber, u.Extension, u.Location, f.HasCalling(u), f.Licensed(u))
		for j, c := range u.Licences {
			if c != Empty {
				fmt.Fprintf(&b, "    %s = %s\n", f.Licences[j].Header, c)
			}
		}
		for _, h := range f.Header {
			if v, ok := u.Extra[h]; ok {
				fmt.Fprintf(&b, "    extra %s = %q\n", h, v)
			}
		}
	}
	b.WriteString("duplicates:\n")
	for _, d := range f.Duplicates {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

func TestParseReadsRealShapedExports(t *testing.T) {
	for _, name := range []string{"realistic.csv", "duplicates.csv"} {
		t.Run(name, func(t *testing.T) {
			golden(t, strings.TrimSuffix(name, ".csv")+".txt", dump(parseFile(t, name)))
		})
	}
}

func TestParseKeepsWhatARealExportCarries(t *testing.T) {
	f := parseFile(t, "realistic.csv")
	if f.Header[0] != ColFirstName {
		t.Fatalf("the byte order mark stayed in the first header: %q", f.Header[0])
	}
	byEmail := map[string]*User{}
	for i := range f.Users {
		byEmail[f.Users[i].Email] = &f.Users[i]
	}
	jane := byEmail["jane.doe@corp.example"]
	tests := []struct {
		name      string
		got, want any
	}{
		{"blank rows are skipped, not users", len(f.Users), 4},
		{"a quoted comma stays inside the display name", jane.DisplayName, "Doe, Jane"},
		{"a phone a spreadsheet stripped of its + is kept as it is", jane.PhoneNumber, "12125550102"},
		{"an unknown column is kept by its header", jane.Extra["Department"], "Sales, East"},
		{"a suspended subscription is read from the header", f.Licences[4].Suspended, true},
		{"a bracketed subscription is split from the name", f.Licences[2].Subscription, "SUB-9"},
		{"a user with Calling FALSE has no Calling", f.HasCalling(jane), false},
		{"T is TRUE, as Control Hub reads it", byEmail["Bob.Stone@Corp.Example"].Licences[3], True},
		{"lines count from the header, through blank lines", byEmail["Bob.Stone@Corp.Example"].Line, 6},
		{"a file with Calling columns says so", f.CallingColumns(), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseNamesTheDuplicateRowsOfAnExport(t *testing.T) {
	f := parseFile(t, "duplicates.csv")
	if len(f.Users) != 3 || len(f.Duplicates) != 2 {
		t.Fatalf("users %d duplicates %+v; want 3 users and 2 duplicated emails", len(f.Users), f.Duplicates)
	}
	if got := f.Duplicates[0].String(); got != "a@corp.example appears on lines 2, 4, 7; line 2 is used and the others are ignored" {
		t.Fatalf("duplicate warning = %q", got)
	}
	if f.Users[0].DisplayName != "A" {
		t.Fatalf("the first row of a duplicated email must be the one kept, got %q", f.Users[0].DisplayName)
	}
}

func TestParseRejectsBrokenExportRowsNamingLineAndColumn(t *testing.T) {
	const hdr = "User ID/Email (Required),Display Name,Webex Calling VAR Professional [SUB-1]\n"
	tests := []struct {
		name, in, want string
	}{
		{"a licence cell that is not TRUE or FALSE", hdr + "a@x.example,A,TRUE\nb@x.example,B,yes\n",
			`users.csv line 3, column "Webex Calling VAR Professional [SUB-1]": "yes" is not TRUE, FALSE or empty`},
		{"an unquoted comma adds a field", hdr + "a@x.example,Doe, Jane,TRUE\n",
			"users.csv line 2: the row has 4 fields and the header 3; a value with a comma must be in double quotes"},
		{"a stray quote", hdr + "a@x.example,\"Jane\" Doe,TRUE\n",
			`users.csv line 2: extraneous or missing " in quoted-field (at character`},
		{"a row without an email", hdr + ",Nobody,TRUE\n",
			`users.csv line 2, column "User ID/Email (Required)": the row has no email; every user row needs one`},
		{"an email that is not one", hdr + "nobody,Nobody,TRUE\n",
			`users.csv line 2, column "User ID/Email (Required)": "nobody" is not an email address`},
		{"a file that is not a user export", "id,email\n1,a@x.example\n",
			`users.csv line 1: no "User ID/Email (Required)" column: is this a Control Hub user export? The header has: "id", "email"`},
		{"a header naming a column twice", "User ID/Email (Required),Location,location\n",
			`users.csv line 1, column "location": the header names this column twice (columns 2 and 3)`},
		{"an empty file", "\n\n", "users.csv: the file is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "users.csv")
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant a *ParseError starting %q", err, tc.want)
			}
		})
	}
}

func TestAnErrorQuotesAShortPrintableExcerptOfWhatTheFileHolds(t *testing.T) {
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(i*7) | 0x80 // no newline, comma or quote: one field
	}
	binary[0], binary[1], binary[2] = 0x00, 0x1b, 0x07
	var columns strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&columns, "col%d,", i)
	}
	tests := []struct {
		name     string
		in       string
		excerpt  string // the start of what the error quotes
		says     string // how the error says what it left out
		maxBytes int
	}{
		{"a 50 MB one-field file", strings.Repeat("A", 50<<20) + "\n", `The header has: "AAAA`, fmt.Sprintf(`"... (%d more bytes)`, 50<<20-maxQuoted), 500},
		{"a binary file", string(binary), `The header has: "\x00\x1b\a\x`, `"... (4046 more bytes)`, 500},
		{"a header of many columns", columns.String() + "last\n", `The header has: "col0", "col1"`, `"col23" and 9977 more columns`, 500},
		{"a licence cell of a megabyte", "User ID/Email (Required),Webex Calling [S]\na@x.example," + strings.Repeat("T", 1<<20) + "\n", `: "TTTT`, fmt.Sprintf(`"... (%d more bytes) is not TRUE`, 1<<20-maxQuoted), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "users.csv")
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %.300v, want a *ParseError", err)
			}
			msg := err.Error()
			if len(msg) > tc.maxBytes || !strings.Contains(msg, tc.excerpt) {
				t.Fatalf("error of %d bytes, want at most %d quoting %q:\n%.600s", len(msg), tc.maxBytes, tc.excerpt, msg)
			}
			for _, r := range msg {
				if r < 0x20 || r == 0x7f || r == '\uFFFD' {
					t.Fatalf("the error carries the raw character %U:\n%q", r, msg)
				}
			}
			if !strings.Contains(msg, tc.says) {
				t.Fatalf("the error does not say %q:\n%s", tc.says, msg)
			}
		})
	}
}

func TestLicenceColumnsOfAnExportAreToldFromOtherColumns(t *testing.T) {
	tests := []struct {
		header  string
		licence bool
		name    string
	}{
		{"Webex Calling VAR Professional [SUB-1]", true, "Webex Calling VAR Professional"},
		{"Webex Contact Center Premium", true, "Webex Contact Center Premium"},
		{"Contact Center Standard Agent [CC-1] (Suspended)", true, "Contact Center Standard Agent"},
		{"Calling Behavior", false, ""},
		{"Caller ID Number", false, ""},
		{"Hybrid Calendar Service (Exchange)", false, ""},
		{"Webex Calling [SUB-1] (SUSPENDED) ", true, "Webex Calling"},
		// Lower-casing these changes their length in bytes: the mark is
		// still found, and where it is.
		{"\x80(Suspended)", true, "\x80"},
		{"İİ Webex Calling [SUB-2] (suspended)", true, "İİ Webex Calling"},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			c, ok := licenceColumn(tc.header)
			if ok != tc.licence || c.Name != tc.name {
				t.Fatalf("licenceColumn(%q) = %+v, %v; want licence %v named %q", tc.header, c, ok, tc.licence, tc.name)
			}
		})
	}
}
