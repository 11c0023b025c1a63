package graph

import (
	"errors"
	"reflect"
	"testing"

	"github.com/licensync/licensync/licensing"
)

func TestUserByIDReadsTheUserAsAFullPassDoes(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	src := open(t, cfg, "Calling Users").src
	all, _, _ := collect(t, src, "")
	for _, want := range all {
		t.Run(want.ID, func(t *testing.T) {
			got, err := src.UserByID(t.Context(), want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("UserByID = %+v, the pass read %+v", got, want)
			}
		})
	}
}

func TestUserByIDSeesAChangeMadeSinceThePass(t *testing.T) {
	f := smallDirectory(t)
	src := open(t, f.config(), "Calling Users").src
	f.change("u-dave", func(u *fakeUser) { u.Phones = []string{"+12125550177"} })
	f.join(callingID, "u-dave", false)
	got, err := src.UserByID(t.Context(), "u-dave")
	if err != nil {
		t.Fatal(err)
	}
	if got.WorkPhone != "+12125550177" || !reflect.DeepEqual(got.Groups, []string{"Calling Users", callingID}) {
		t.Fatalf("dave = %+v, want the new number and the group he joined", got)
	}
}

func TestUserByIDSaysNotFound(t *testing.T) {
	tests := []struct {
		name, id string
		scope    []string
	}{
		{"for a user the tenant does not have (404)", "u-gone", nil},
		{"for a user outside the scope groups", "u-dave", []string{"London Office"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := smallDirectory(t)
			cfg := f.config()
			cfg.Groups = tc.scope
			_, err := open(t, cfg, "Calling Users").src.UserByID(t.Context(), tc.id)
			if !errors.Is(err, licensing.ErrUserNotFound) {
				t.Fatalf("err = %v, want ErrUserNotFound", err)
			}
		})
	}
}
