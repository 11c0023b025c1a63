package file

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/licensync/licensync/internal/reportcheck"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// FuzzRead feeds any bytes to the file source as a directory file. It
// stops with an error or streams users: every user has an id, every row it
// could not read whole is one unreadable user with its line, and the
// report rows of those users are safe to open in a spreadsheet.
func FuzzRead(f *testing.F) {
	for _, p := range []string{"../../testdata/demo/directory.csv", "testdata/broken.csv"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\xef\xbb\xbfid,email,display_name,work_phone,enabled,groups\r\n=1+1,@SUM(A1),-2+3,+1 212 555 0100,true,\"=HYPERLINK(\"\"x\"\")\"\r\n"))
	f.Add([]byte("groups,enabled,work_phone,display_name,email,id\n;;Calling Users;,yes,+12125550100,\"Doe, Jane\",jane@corp.example,u1\nx,maybe,,,,u2\n"))
	// One template for the whole organisation: every readable user reaches
	// the phone check.
	policy := &licensing.Policy{Templates: []licensing.Template{{Name: "calling"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		var rowErrs []*RowError
		s := New("directory.csv", func(e *RowError) { rowErrs = append(rowErrs, e) })
		var users []licensing.DirectoryUser
		err := s.read(context.Background(), bytes.NewReader(data), func(u licensing.DirectoryUser) error {
			users = append(users, u)
			if len(users) > lines {
				return fmt.Errorf("%d users from %d lines", len(users), lines)
			}
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "file source: directory.csv") {
			t.Fatalf("error %q does not name the source and file", err)
		}
		unreadable := 0
		for _, u := range users {
			if u.ID == "" {
				t.Fatalf("a user without an id: %+v", u)
			}
			if u.Unreadable != "" {
				if !strings.HasPrefix(u.Unreadable, "line ") {
					t.Errorf("unreadable %q does not start with its line", u.Unreadable)
				}
				unreadable++
			}
		}
		if unreadable != len(rowErrs) {
			t.Fatalf("%d unreadable users and %d row errors", unreadable, len(rowErrs))
		}
		for _, e := range rowErrs {
			if e.Line < 1 || e.Line > lines || e.Msg == "" {
				t.Errorf("row error at line %d of %d: %q", e.Line, lines, e.Msg)
			}
		}
		var out bytes.Buffer
		w, err := pass.NewCSVWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			s := policy.Screen(u)
			row := pass.Row{SourceID: u.ID, Email: u.Email, DisplayName: u.DisplayName, WorkPhone: u.WorkPhone, E164: s.E164}
			if s.Early != nil {
				row.Outcome, row.Cause, row.Detail = string(s.Early.Outcome), string(s.Early.Cause), s.Early.Detail
			}
			if err := w.Write(&row); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := reportcheck.Unsafe(out.Bytes(), len(users), "work_phone", "e164"); err != nil {
			t.Fatal(err)
		}
	})
}
