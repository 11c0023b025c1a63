package file

import (
	"context"
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

func TestBrokenRowsAreReportedWithTheirLineAndTheRestIsRead(t *testing.T) {
	users, bad, err := read(t, "testdata/broken.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := licensing.DirectoryUser{ID: "u1", Email: "a@corp.example", DisplayName: "Smith, Ann", WorkPhone: "+12125550101", Enabled: true, Groups: []string{"Calling Users", "Sales"}}
	if len(users) != 1 || !reflect.DeepEqual(users[0], want) {
		t.Fatalf("users = %+v", users)
	}
	if len(bad) != 2 {
		t.Fatalf("row errors = %v", bad)
	}
	if bad[0].Line != 3 || !strings.Contains(bad[0].Msg, `enabled is "maybe"`) {
		t.Errorf("first error = %v", bad[0])
	}
	if bad[1].Line != 4 || !strings.Contains(bad[1].Error(), "broken.csv:4:") {
		t.Errorf("second error = %v", bad[1])
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
