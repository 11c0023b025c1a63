package file

import (
	"context"
	"fmt"

	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/licensing"
)

// Doctor reads the directory file through once, as a pass would, and says
// how many users it holds and how many rows could not be read whole.
func Doctor(ctx context.Context, path string) []doctor.Check {
	tried := "read " + path
	var users, unreadable int
	s := New(path, func(*RowError) { unreadable++ })
	_, _, err := s.Users(ctx, "", func(licensing.DirectoryUser) error { users++; return nil })
	if err != nil {
		return []doctor.Check{doctor.Fail("directory file", tried, err.Error(), "make the file readable by the licensync user, with the header id,email,display_name,work_phone,enabled,groups")}
	}
	detail := fmt.Sprintf("%d user(s)", users)
	if unreadable > 0 {
		detail += fmt.Sprintf(", %d row(s) not readable whole: those users fail as %s until the file is fixed", unreadable, licensing.CauseUnreadableRecord)
	}
	return []doctor.Check{doctor.Pass("directory file", tried, detail)}
}
