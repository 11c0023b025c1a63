package okta

import (
	"errors"
	"strings"
	"testing"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

// byIDDirectory is the users of TestUsersAreMappedFromTheProfile: every
// status, some in a template group.
func byIDDirectory(t *testing.T) *fakeOkta {
	f := newFakeOkta(t, newFakeClock(), testToken)
	f.addGroup("00gcalling", "Calling Users")
	f.addGroup("00gother", "All Staff")
	f.addUser("00ua", "ACTIVE", map[string]any{"login": "alice@login.example", "email": "alice@corp.example", "displayName": "Alice A", "primaryPhone": "+12125550101"})
	f.addUser("00ub", "LOCKED_OUT", map[string]any{"login": "bob", "email": "bob@corp.example", "firstName": "Bob", "lastName": "B"})
	f.addUser("00uc", "SUSPENDED", profile("carol@corp.example", "+12125550103"))
	f.addUser("00ud", "DEPROVISIONED", profile("dave@corp.example", "+12125550104"))
	f.join("00gcalling", "00ua")
	f.join("00gother", "00ua")
	f.join("00gcalling", "00uc")
	return f
}

func TestUserByIDReadsTheUserAsAPassDoes(t *testing.T) {
	f := byIDDirectory(t)
	s := openFake(t, f, Options{TemplateGroups: []string{"calling users"}}, nil)
	all, _, _ := read(t, s, "")
	if len(all) != 4 {
		t.Fatalf("the pass read %d users, want 4", len(all))
	}
	for _, want := range all {
		t.Run(want.ID, func(t *testing.T) {
			got, err := s.UserByID(t.Context(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			assertUsers(t, []licensing.DirectoryUser{got}, []licensing.DirectoryUser{want})
		})
	}
	f.update("00ub", func(u *fakeUser) { u.Profile["primaryPhone"] = "+12125550177" })
	f.join("00gcalling", "00ub")
	got, err := s.UserByID(t.Context(), "00ub")
	if err != nil {
		t.Fatal(err)
	}
	assertUsers(t, []licensing.DirectoryUser{got}, []licensing.DirectoryUser{
		{ID: "00ub", Email: "bob@corp.example", DisplayName: "Bob B", WorkPhone: "+12125550177", Enabled: true, Groups: []string{"Calling Users", "00gcalling"}},
	})
}

func TestUserByIDSaysNotFound(t *testing.T) {
	tests := []struct {
		name, id string
		scope    []string
	}{
		{"for a user the organisation does not have (404)", "00uzz", nil},
		{"for a user outside the scope groups", "00ub", []string{"Calling Users"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := byIDDirectory(t)
			s := openFake(t, f, Options{}, func(c *config.OktaSource) { c.Groups = tc.scope })
			_, err := s.UserByID(t.Context(), tc.id)
			if !errors.Is(err, licensing.ErrUserNotFound) {
				t.Fatalf("err = %v, want ErrUserNotFound", err)
			}
		})
	}
}

func TestUserByIDNamesAnErrorThatIsNotNotFound(t *testing.T) {
	f := byIDDirectory(t)
	s := openFake(t, f, Options{}, nil)
	f.forbid = "/api/v1/users/"
	_, err := s.UserByID(t.Context(), "00ua")
	if err == nil || errors.Is(err, licensing.ErrUserNotFound) || !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), testToken) {
		t.Fatalf("err = %v, want permission denied, not not-found, without the token", err)
	}
}
