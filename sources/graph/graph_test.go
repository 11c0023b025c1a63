package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

// smallDirectory is four users and two groups, one nested in the other.
func smallDirectory(t *testing.T) *fake {
	f := newFake(t)
	f.addUser(&fakeUser{ID: "u-alice", UPN: "alice@corp.onmicrosoft.com", Mail: "alice@corp.example", Name: "Alice", Phones: []string{"+1 212 555 0101"}, Enabled: true})
	f.addUser(&fakeUser{ID: "u-bob", UPN: "bob@corp.onmicrosoft.com", Mail: "bob@corp.example", Name: "Bob", Phones: []string{"+12125550102", "+12125550199"}, Enabled: true})
	f.addUser(&fakeUser{ID: "u-carol", UPN: "carol@corp.example", Name: "Carol", Enabled: false})
	f.addUser(&fakeUser{ID: "u-dave", UPN: "dave@corp.onmicrosoft.com", Mail: "dave@corp.example", Name: "Dave", Mobile: "+12125550104", Enabled: true})
	f.addGroup(&fakeGroup{ID: "9c1e0000-0000-4000-8000-0000000000c1", Name: "Calling Users", Members: []string{"u-alice", "g-london"}})
	f.addGroup(&fakeGroup{ID: "g-london", Name: "London Office", Members: []string{"u-bob"}})
	return f
}

const callingID = "9c1e0000-0000-4000-8000-0000000000c1"

type logged struct {
	src  *Source
	logs *observer.ObservedLogs
}

func open(t *testing.T, cfg config.GraphSource, templates ...string) logged {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	src, err := Open(cfg, templates, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return logged{src, logs}
}

func collect(t *testing.T, src *Source, since string) ([]licensing.DirectoryUser, string, bool) {
	t.Helper()
	var got []licensing.DirectoryUser
	next, full, err := src.Users(context.Background(), since, func(u licensing.DirectoryUser) error {
		got = append(got, u)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, next, full
}

func ids(us []licensing.DirectoryUser) []string {
	var out []string
	for _, u := range us {
		id := u.ID
		if u.Removed {
			id += " (removed)"
		}
		out = append(out, id)
	}
	return out
}

func find(us []licensing.DirectoryUser, id string) licensing.DirectoryUser {
	for _, u := range us {
		if u.ID == id {
			return u
		}
	}
	return licensing.DirectoryUser{}
}

func requestsTo(f *fake, prefix string) []string {
	var out []string
	for _, r := range f.log() {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func TestAFullPassStreamsEveryUserWithTheirTransitiveGroups(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	cfg.PageSize = 3
	got, next, full := collect(t, open(t, cfg, "Calling Users").src, "")

	if !full || next == "" {
		t.Fatalf("full = %v, next = %q; want a full pass with a checkpoint", full, next)
	}
	if want := []string{"u-alice", "u-bob", "u-carol", "u-dave"}; !slices.Equal(ids(got), want) {
		t.Fatalf("users = %v, want %v in the directory's order", ids(got), want)
	}
	alice, bob, carol, dave := got[0], got[1], got[2], got[3]
	if alice.Email != "alice@corp.example" {
		t.Errorf("alice's email = %q, want her mail, not her userPrincipalName", alice.Email)
	}
	if carol.Email != "carol@corp.example" || carol.Enabled {
		t.Errorf("carol = %+v, want the userPrincipalName for a user without mail, and disabled", carol)
	}
	if bob.WorkPhone != "+12125550102" {
		t.Errorf("bob's phone = %q, want the first of businessPhones", bob.WorkPhone)
	}
	if want := []string{"Calling Users", callingID}; !slices.Equal(bob.Groups, want) {
		t.Errorf("bob's groups = %v, want %v through the nested London Office", bob.Groups, want)
	}
	if len(dave.Groups) != 0 || dave.WorkPhone != "" {
		t.Errorf("dave = %+v, want no groups and no business phone", dave)
	}
	users := requestsTo(f, "GET /v1.0/users?")
	if len(users) != 2 {
		t.Fatalf("requests to /users = %v, want two pages of 3", users)
	}
	if !strings.Contains(users[0], "$top=3") || !strings.Contains(users[1], "$skiptoken=3") {
		t.Errorf("pages = %v, want $top=3 and the nextLink followed", users)
	}
	var cp checkpoint
	if err := json.Unmarshal([]byte(next), &cp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cp.Users, "/users/delta()") || !strings.Contains(cp.GroupsLink, "/groups/delta()") || !slices.Equal(cp.Nested, []string{"g-london"}) {
		t.Errorf("checkpoint = %+v, want both delta links and the nested group", cp)
	}
}

func TestTheWorkPhoneComesFromTheConfiguredAttribute(t *testing.T) {
	const ext = "extension_0123456789abcdef0123456789abcdef_workPhone"
	tests := []struct {
		name, attribute, user, want string
	}{
		{"mobilePhone is read when configured", "mobilePhone", "u-dave", "+12125550104"},
		{"a user without the attribute has no phone", "mobilePhone", "u-alice", ""},
		{"a directory extension is read from the user's extra properties", ext, "u-carol", "+12125550103"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := smallDirectory(t)
			f.byID["u-carol"].Ext = map[string]string{ext: "+12125550103"}
			f.wantSelect = append(f.wantSelect, tt.attribute)
			cfg := f.config()
			cfg.Attributes.WorkPhone = tt.attribute
			got, _, _ := collect(t, open(t, cfg).src, "")
			if p := find(got, tt.user).WorkPhone; p != tt.want {
				t.Fatalf("%s's phone = %q, want %q", tt.user, p, tt.want)
			}
		})
	}
}

func TestAnIncrementalPassReadsOnlyWhatChanged(t *testing.T) {
	f := smallDirectory(t)
	l := open(t, f.config(), "Calling Users")
	_, cp, _ := collect(t, l.src, "")

	f.change("u-alice", func(u *fakeUser) { u.Phones = []string{"+12125550111"} })
	f.join(callingID, "u-dave", false)
	f.join("g-london", "u-bob", true)
	f.remove("u-carol")
	before := len(f.log())
	got, next, full := collect(t, l.src, cp)

	if full {
		t.Fatal("the pass was full, want incremental")
	}
	if want := []string{"u-alice", "u-carol (removed)", "u-dave", "u-bob"}; !slices.Equal(ids(got), want) {
		t.Fatalf("users = %v, want %v", ids(got), want)
	}
	if p := got[0].WorkPhone; p != "+12125550111" {
		t.Errorf("alice's phone = %q, want the changed one", p)
	}
	if g := got[2].Groups; !slices.Contains(g, "Calling Users") {
		t.Errorf("dave's groups = %v, want Calling Users after he joined", g)
	}
	if g := got[3].Groups; len(g) != 0 {
		t.Errorf("bob's groups = %v, want none after he left London Office", g)
	}
	for _, r := range f.log()[before:] {
		if strings.HasPrefix(r, "GET /v1.0/users?") || strings.Contains(r, "transitiveMembers") {
			t.Errorf("an incremental pass read the whole directory: %s", r)
		}
	}

	again, last, full := collect(t, l.src, next)
	if full || len(again) != 0 {
		t.Fatalf("a pass with no change emitted %v (full %v), want nothing", ids(again), full)
	}
	if last == next || last == "" {
		t.Errorf("the checkpoint did not move to the new delta links")
	}
}

func TestMembersDeltaSplitOverPagesIsReadWhole(t *testing.T) {
	f := smallDirectory(t)
	for _, id := range []string{"u-n1", "u-n2", "u-n3", "u-n4", "u-n5"} {
		f.addUser(&fakeUser{ID: id, UPN: id + "@corp.example", Name: id, Enabled: true})
	}
	l := open(t, f.config(), "Calling Users")
	_, cp, _ := collect(t, l.src, "")
	for _, id := range []string{"u-n1", "u-n2", "u-n3", "u-n4", "u-n5"} {
		f.join(callingID, id, false)
	}
	f.membersSplit, f.deltaPage = 2, 1
	got, _, _ := collect(t, l.src, cp)
	if want := []string{"u-n1", "u-n2", "u-n3", "u-n4", "u-n5"}; !slices.Equal(ids(got), want) {
		t.Fatalf("users = %v, want each new member once", ids(got))
	}
	if pages := requestsTo(f, "GET /v1.0/groups/delta()?$skiptoken"); len(pages) != 2 {
		t.Errorf("groups delta follow-up pages = %d, want 2 (5 members, 2 a page)", len(pages))
	}
}

func TestAnExpiredDeltaLinkStartsAFullPassAndSaysSo(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
	}{
		{"410 Gone", http.StatusGone},
		{"400 syncStateNotFound", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := smallDirectory(t)
			f.expireAs = tt.status
			l := open(t, f.config(), "Calling Users")
			_, cp, _ := collect(t, l.src, "")
			f.expireTokens()
			got, next, full := collect(t, l.src, cp)
			if !full || len(got) != 4 {
				t.Fatalf("full = %v with %d users, want a full pass over all 4", full, len(got))
			}
			if next == cp {
				t.Errorf("the checkpoint kept the expired links")
			}
			logs := l.logs.FilterMessageSnippet("whole directory").All()
			if len(logs) != 1 || !strings.Contains(logs[0].ContextMap()["why"].(string), "expired") {
				t.Fatalf("log = %v, want one line saying the delta link expired", logs)
			}
		})
	}
}

func TestAGroupNestedIntoATemplateGroupStartsAFullPass(t *testing.T) {
	f := smallDirectory(t)
	f.addGroup(&fakeGroup{ID: "g-paris", Name: "Paris Office", Members: []string{"u-dave"}})
	l := open(t, f.config(), "Calling Users")
	_, cp, _ := collect(t, l.src, "")
	f.join(callingID, "g-paris", false)
	got, _, full := collect(t, l.src, cp)
	if !full {
		t.Fatal("want a full pass: the nesting under a template group changed")
	}
	if g := find(got, "u-dave").Groups; !slices.Contains(g, "Calling Users") {
		t.Fatalf("dave's groups = %v, want Calling Users through Paris Office", g)
	}
}

func TestScopeGroupsLimitThePassToTheirMembers(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	cfg.Groups = []string{"London Office"}
	l := open(t, cfg, "Calling Users")
	got, cp, _ := collect(t, l.src, "")
	if want := []string{"u-bob"}; !slices.Equal(ids(got), want) {
		t.Fatalf("users = %v, want only London Office's", ids(got))
	}
	if len(requestsTo(f, "GET /v1.0/users?")) != 0 {
		t.Errorf("a scoped pass listed the whole directory")
	}
	f.change("u-dave", func(u *fakeUser) { u.Name = "Dave B" })
	f.join("g-london", "u-bob", true)
	got, _, _ = collect(t, l.src, cp)
	if want := []string{"u-dave (removed)", "u-bob (removed)"}; !slices.Equal(ids(got), want) {
		t.Fatalf("users = %v, want the out-of-scope users reported gone", ids(got))
	}
}

func TestAMissingScopeGroupIsAnErrorNamingIt(t *testing.T) {
	f := smallDirectory(t)
	cfg := f.config()
	cfg.Groups = []string{"Calling Userz"}
	_, _, err := open(t, cfg).src.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `group "Calling Userz" of source.graph.groups does not exist`) {
		t.Fatalf("error = %v, want one naming the group and the setting", err)
	}
}

func TestThrottlingIsWaitedOutAndCounted(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := smallDirectory(t)
			f.throttle, f.throttleAs = 1, status
			l := open(t, f.config(), "Calling Users")
			start := time.Now()
			got, _, _ := collect(t, l.src, "")
			if len(got) != 4 {
				t.Fatalf("got %d users, want 4 after the retry", len(got))
			}
			if d := time.Since(start); d < time.Second {
				t.Errorf("the pass took %v, want at least the 1 s Retry-After", d)
			}
			st := l.src.Stats()
			if st.Throttled != 1 || st.Retries != 1 || st.Requests < 5 || st.Users != 4 {
				t.Fatalf("stats = %+v, want 1 throttled, 1 retry, every request counted", st)
			}
		})
	}
}

func TestAnEmitErrorStopsThePassAndIsReturnedAsIs(t *testing.T) {
	f := smallDirectory(t)
	stop := context.Canceled
	n := 0
	_, _, err := open(t, f.config()).src.Users(context.Background(), "", func(licensing.DirectoryUser) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err = %v after %d users, want the emit error after the first", err, n)
	}
}

func TestTemplateGroupsAreFoundByIdOrNameAndAMissingOneIsLogged(t *testing.T) {
	f := smallDirectory(t)
	l := open(t, f.config(), callingID, "Lobby Phones")
	got, _, _ := collect(t, l.src, "")
	if g := find(got, "u-alice").Groups; !slices.Equal(g, []string{"Calling Users", callingID}) {
		t.Fatalf("alice's groups = %v, want the group a template names by id, with its name", g)
	}
	if n := l.logs.FilterMessageSnippet("a template names a group the tenant does not have").FilterField(zap.String("group", "Lobby Phones")).Len(); n != 1 {
		t.Fatalf("%d warnings about Lobby Phones, want 1", n)
	}
	if !slices.ContainsFunc(f.log(), func(r string) bool {
		return strings.HasPrefix(r, "GET /v1.0/groups/"+callingID+"?$select=id,displayName")
	}) {
		t.Errorf("the id was not looked up directly: %v", f.log())
	}
}

func TestAChangeMadeDuringAFullPassIsReadAgainByTheNextIncrementalPass(t *testing.T) {
	f := smallDirectory(t)
	l := open(t, f.config(), "Calling Users")
	changed := false
	cp, _, err := l.src.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		if !changed {
			// Dave, not read yet, changes while the pass reads Alice.
			f.change("u-dave", func(u *fakeUser) { u.Mobile = "+12125550105" })
			changed = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, full := collect(t, l.src, cp)
	if full || !slices.Equal(ids(got), []string{"u-dave"}) {
		t.Fatalf("users = %v (full %v), want dave replayed by an incremental pass", ids(got), full)
	}
}

func TestAThrottledPassTellsItsWatchdogHowLongTheRetryWaits(t *testing.T) {
	f := smallDirectory(t)
	f.throttle, f.retryAfter = 1, "2"
	l := open(t, f.config(), "Calling Users")
	var live licensing.Liveness
	before := time.Now()
	_, _, err := l.src.Users(licensing.WithLiveness(context.Background(), &live), "", func(licensing.DirectoryUser) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := live.Answers(), l.src.Stats().Requests; got != want || got == 0 {
		t.Errorf("%d answers told, want every one of the %d requests", got, want)
	}
	if w := live.WaitingUntil().Sub(before); w < 2*time.Second || w > 3*time.Second {
		t.Errorf("waiting until %s from the start, want the 2s Retry-After", w)
	}
}
