package graph

import (
	"context"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// quietBudget is the most requests a delta pass that finds nothing changed
// may send, whatever the size of the directory.
const quietBudget = 50

func TestAQuietDeltaPassSendsTheSameFewRequestsWhateverTheTenantsSize(t *testing.T) {
	sent := map[int][]string{}
	for _, n := range []int{2000, 20000} {
		f := tenant(t, n)
		src, err := Open(f.config(), []string{"Calling Users"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		read := func(since string) (string, bool, int) {
			users := 0
			next, full, err := src.Users(context.Background(), since, func(licensing.DirectoryUser) error { users++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			return next, full, users
		}
		cp, _, users := read("")
		if users != n {
			t.Fatalf("the full pass read %d users, want %d", users, n)
		}
		before := len(f.log())
		if _, full, users := read(cp); full || users != 0 {
			t.Fatalf("the quiet pass: full %v, %d users; want a delta pass that reads nobody", full, users)
		}
		sent[n] = f.log()[before:]
		if len(sent[n]) >= quietBudget {
			t.Errorf("a quiet delta pass over %d users sent %d requests, want under %d: %q", n, len(sent[n]), quietBudget, sent[n])
		}
	}
	if len(sent[2000]) != len(sent[20000]) {
		t.Fatalf("a quiet delta pass sent %d requests over 2,000 users and %d over 20,000; want the same:\n%q\n%q",
			len(sent[2000]), len(sent[20000]), sent[2000], sent[20000])
	}
	t.Logf("a quiet delta pass: %d requests: %q", len(sent[2000]), sent[2000])
}
