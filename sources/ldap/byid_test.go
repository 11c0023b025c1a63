package ldap

import (
	"errors"
	"reflect"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

// assertReadsAsThePass reads every user the pass emitted again by id and
// wants the same record.
func assertReadsAsThePass(t *testing.T, src *Source, users map[string]licensing.DirectoryUser) {
	t.Helper()
	if len(users) == 0 {
		t.Fatal("the pass read no users")
	}
	for _, want := range users {
		got, err := src.UserByID(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("%s (%s): %v", want.ID, want.Email, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("UserByID(%s) = %+v, the pass read %+v", want.ID, got, want)
		}
	}
}

func TestUserByIDOnSlapdReadsEachUserAsAFullPassDoes(t *testing.T) {
	srv := startSlapd(t, directory(40), options{})
	tests := []struct {
		name string
		cfg  func() config.LDAPSource
	}{
		{"by entryUUID with nested groups on OpenLDAP", func() config.LDAPSource {
			cfg := srv.config(DialectOpenLDAP, people)
			cfg.GroupBaseDN = groups
			return cfg
		}},
		{"by the escaped binary objectGUID on an AD look-alike", func() config.LDAPSource { return srv.config(DialectAD, adBase) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := open(t, tc.cfg())
			users, _, _ := read(t, src, "")
			assertReadsAsThePass(t, src, users)
		})
	}
}

func TestUserByIDOnSlapdSeesAChangeAndSaysNotFound(t *testing.T) {
	srv := startSlapd(t, directory(40), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	src := open(t, cfg)
	users, _, _ := read(t, src, "")
	u := users["u0020@example.com"]

	mod := goldap.NewModifyRequest(userDN(20), nil)
	mod.Replace("telephoneNumber", []string{"+1 415 555 0999"})
	must(t, srv.admin().Modify(mod))
	got, err := src.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.WorkPhone != "+1 415 555 0999" || got.ID != u.ID || !reflect.DeepEqual(got.Groups, u.Groups) {
		t.Fatalf("after the change UserByID = %+v, want the new number and the same groups as %+v", got, u)
	}

	for _, id := range []string{"6f1c0d5e-0000-4000-8000-000000000000", u.ID + ")(objectClass=*"} {
		if _, err := src.UserByID(t.Context(), id); !errors.Is(err, licensing.ErrUserNotFound) {
			t.Errorf("UserByID(%q) = %v, want ErrUserNotFound", id, err)
		}
	}
	cfg.Filter = "(&(objectClass=inetOrgPerson)(!(mail=u0020@example.com)))"
	if _, err := open(t, cfg).UserByID(t.Context(), u.ID); !errors.Is(err, licensing.ErrUserNotFound) {
		t.Errorf("a user the source's filter leaves out gave %v, want ErrUserNotFound", err)
	}
	ad := open(t, srv.config(DialectAD, adBase))
	if _, err := ad.UserByID(t.Context(), "not-a-guid"); err == nil || errors.Is(err, licensing.ErrUserNotFound) {
		t.Errorf("an id that is no objectGUID gave %v, want an error naming it", err)
	}
}

func TestUserByIDOnSambaADReadsUsersAsAFullPassDoes(t *testing.T) {
	s := samba(t)
	src := open(t, s.config(adStaff))
	users, _, _ := read(t, src, "")
	some := map[string]licensing.DirectoryUser{}
	for _, i := range []int{3, 14, 20, 30, 44} {
		k := adKey(i)
		some[k] = users[k]
	}
	assertReadsAsThePass(t, src, some)
}
