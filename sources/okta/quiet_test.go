package okta

import (
	"testing"
	"time"
)

// quietBudget is the most requests an incremental pass that finds nothing
// changed may send, whatever the size of the directory.
const quietBudget = 50

func TestAQuietIncrementalPassSendsTheSameFewRequestsWhateverTheOrgsSize(t *testing.T) {
	sent := map[int][]string{}
	for _, n := range []int{1000, 10000} {
		f, clk := orgOf(t, n)
		s := openFake(t, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
		users, cp, _ := read(t, s, "")
		if len(users) != n {
			t.Fatalf("the full pass read %d users, want %d", len(users), n)
		}
		clk.Advance(5 * time.Minute)
		before := len(f.Requests())
		if users, _, full := read(t, s, cp); full || len(users) != 0 {
			t.Fatalf("the quiet pass: full %v, %d users; want an incremental pass that reads nobody", full, len(users))
		}
		sent[n] = f.Requests()[before:]
		if len(sent[n]) >= quietBudget {
			t.Errorf("a quiet incremental pass over %d users sent %d requests, want under %d: %q", n, len(sent[n]), quietBudget, sent[n])
		}
	}
	if len(sent[1000]) != len(sent[10000]) {
		t.Fatalf("a quiet incremental pass sent %d requests over 1,000 users and %d over 10,000; want the same:\n%q\n%q",
			len(sent[1000]), len(sent[10000]), sent[1000], sent[10000])
	}
	t.Logf("a quiet incremental pass: %d requests: %q", len(sent[1000]), sent[1000])
}
