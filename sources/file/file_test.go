package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

func read(t *testing.T, path string) ([]licensing.DirectoryUser, []*RowError, error) {
	t.Helper()
	var users []licensing.DirectoryUser
	var bad []*RowError
	s := New(path, func(e *RowError) { bad = append(bad, e) })
	_, full, err := s.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		users = append(users, u)
		return nil
	})
	if !full {
		t.Fatal("a file pass must be full")
	}
	return users, bad, err
}

func TestBrokenRowsBecomeUnreadableUsersWithTheirLineAndTheRestIsRead(t *testing.T) {
	users, bad, err := read(t, "testdata/broken.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []licensing.DirectoryUser{
		{ID: "u1", Email: "a@corp.example", DisplayName: "Smith, Ann", WorkPhone: "+12125550101", Enabled: true, Groups: []string{"Calling Users", "Sales"}},
		{ID: "u2", Email: "b@corp.example", DisplayName: "Bob", WorkPhone: "+12125550102", Unreadable: `line 3: enabled is "maybe", want true or false`},
		{ID: "u3", Email: "c@corp.example", Unreadable: `line 4: column 44: extraneous or missing " in quoted-field`},
	}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("users =\n%+v\nwant\n%+v", users, want)
	}
	if len(bad) != 2 || bad[0].Line != 3 || bad[1].Line != 4 || !strings.Contains(bad[1].Error(), "broken.csv:4:") {
		t.Fatalf("row errors = %v", bad)
	}
}

// unreadable lists each user as id or id!unreadable.
func unreadable(users []licensing.DirectoryUser) string {
	var out []string
	for _, u := range users {
		if u.Unreadable != "" {
			out = append(out, u.ID+"!"+u.Unreadable)
		} else {
			out = append(out, u.ID)
		}
	}
	return strings.Join(out, " | ")
}

func TestARowThatCannotBeReadWholeIsAnUnreadableUserWhenItHasAnID(t *testing.T) {
	const header = "id,email,display_name,work_phone,enabled,groups\n"
	tests := []struct{ name, content, want string }{
		{"an unterminated quote fails its row and the rows after it are still read",
			header + "u1,a@b.c,A,+1,true,G\nu2,b@b.c,\"Bob,+1,true,G\nu3,c@b.c,C,+1,true,G\nu4,d@b.c,\"D\",+1,true,\"CN=G,DC=x\"\nu5,e@b.c,E,+1,true,G\n",
			`u1 | u2!line 3: a quote opened on this line is not closed on it (extraneous or missing " in quoted-field at line 5) | u3 | u4 | u5`},
		{"an unterminated quote at the end of the file fails its row",
			header + "u1,a@b.c,A,+1,true,G\nu2,b@b.c,\"Bob,+1,true,G\nu3,c@b.c,C,+1,true,G\n",
			`u1 | u2!line 3: a quote opened on this line is not closed on it (extraneous or missing " in quoted-field at line 4) | u3`},
		{"line numbers stay right after a byte order mark, blank lines and CRLF",
			"\ufeff" + strings.ReplaceAll(header+"\nu1,a@b.c,A,+1,true,G\n\n\nu2,b@b.c,\"Bob,+1,true,G\nu3,c@b.c,C,+1,true,G\nu4,d@b.c,D,+1,maybe,G\n", "\n", "\r\n"),
			`u1 | u2!line 6: a quote opened on this line is not closed on it (extraneous or missing " in quoted-field at line 8) | u3 | u4!line 8: enabled is "maybe", want true or false`},
		{"a bare quote fails its row",
			header + "u1,a@b.c,A\"x,+1,true,G\nu2,b@b.c,B,+1,true,G\n",
			`u1!line 2: column 11: bare " in non-quoted-field | u2`},
		{"a row with a field too many fails",
			header + "u1,a@b.c,Smith, Ann,+1,true,G\nu2,b@b.c,B,+1,true,G\n",
			`u1!line 2: has 7 fields, the header has 6 | u2`},
		{"a row with a field too few fails",
			header + "u1,a@b.c,A,+1,true\nu2,b@b.c,B,+1,true,G\n",
			`u1!line 2: has 5 fields, the header has 6 | u2`},
		{"a bad enabled value fails its row",
			header + "u1,a@b.c,A,+1,maybe,G\n",
			`u1!line 2: enabled is "maybe", want true or false`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			users, bad, err := read(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if got := unreadable(users); got != tc.want {
				t.Fatalf("users = %s\nwant    %s", got, tc.want)
			}
			if n := strings.Count(tc.want, "!"); len(bad) != n {
				t.Fatalf("%d row errors reported, want %d: %v", len(bad), n, bad)
			}
			for _, u := range users {
				if u.Unreadable != "" && u.Enabled {
					t.Errorf("%s is unreadable and enabled", u.ID)
				}
			}
		})
	}
}

func TestARowWithoutAnIDStopsTheReadNamingTheFileAndLine(t *testing.T) {
	const header = "id,email,display_name,work_phone,enabled,groups\n"
	tests := []struct{ name, content, want string }{
		{"an empty id", header + "u1,a@b.c,A,+1,true,G\n,b@b.c,B,+1,true,G\nu3,c@b.c,C,+1,true,G\n", "d.csv:3: id is empty"},
		{"a broken quote before the id", "email,display_name,work_phone,enabled,groups,id\n\"a@b.c,A,+1,true,G,u1\nb@b.c,B,+1,true,G,u2\n", "d.csv:2: a quote opened on this line is not closed on it (extraneous or missing \" in quoted-field at line 3), and no id can be read from the row"},
		{"a bare quote in the id", header + "u\"1,a@b.c,A,+1,true,G\n", "d.csv:2: column 2: bare \" in non-quoted-field, and no id can be read from the row"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := read(t, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "before anything is written or forgotten") {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAFileWithoutTheHeaderIsRefusedWithTheMissingColumns(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"missing columns are named", "id,email\nu1,a@b\n", "header lacks column(s) display_name, work_phone, enabled, groups"},
		{"an empty file says what header it needs", "", "is empty: it needs the header id,email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "d.csv")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := read(t, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestColumnsMayComeInAnyOrder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(p, []byte("groups,enabled,work_phone,display_name,email,id\nG,false,+1,Ann,a@b.c,u9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	users, _, err := read(t, p)
	if err != nil || len(users) != 1 || users[0].ID != "u9" || users[0].Enabled || users[0].Groups[0] != "G" {
		t.Fatalf("users = %+v, err = %v", users, err)
	}
}

func TestAMissingFileNamesThePath(t *testing.T) {
	_, _, err := read(t, "testdata/nope.csv")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.csv") {
		t.Fatalf("err = %v", err)
	}
}

func TestUserByIDReadsTheRowAsAPassDoes(t *testing.T) {
	users, _, err := read(t, "testdata/broken.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := New("testdata/broken.csv", func(e *RowError) { t.Errorf("a check reported a row error: %v", e) })
	for _, want := range users {
		t.Run(want.ID, func(t *testing.T) {
			got, err := s.UserByID(t.Context(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("UserByID = %+v, the pass read %+v", got, want)
			}
		})
	}
}

func TestUserByIDSaysNotFoundForAnIDNoRowHas(t *testing.T) {
	_, err := New("testdata/broken.csv", nil).UserByID(t.Context(), "u9")
	if !errors.Is(err, licensing.ErrUserNotFound) || !strings.Contains(err.Error(), `"u9"`) {
		t.Fatalf("err = %v, want ErrUserNotFound naming the id", err)
	}
}

func TestUserByIDOnAMissingFileIsNotNotFound(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "gone.csv"), nil).UserByID(t.Context(), "u1")
	if err == nil || errors.Is(err, licensing.ErrUserNotFound) {
		t.Fatalf("err = %v, want the file's error, not not-found", err)
	}
}
