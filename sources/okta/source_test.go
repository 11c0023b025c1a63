package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

const testToken = "00TESTtokenSECRETvalue-abc"

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openFake opens a source on f; change adjusts the configuration.
func openFake(t testing.TB, f *fakeOkta, opt Options, change func(*config.OktaSource)) *Source {
	t.Helper()
	cfg := config.OktaSource{OrgURL: f.URL(), Token: config.Secret(f.token)}
	if change != nil {
		change(&cfg)
	}
	if opt.Log == nil {
		opt.Log = zap.NewNop()
	}
	s, err := open(context.Background(), cfg, opt, http.DefaultTransport.(*http.Transport).Clone(), f.clock)
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// read runs one pass and returns what it emitted.
func read(t testing.TB, s *Source, since string) ([]licensing.DirectoryUser, string, bool) {
	t.Helper()
	var got []licensing.DirectoryUser
	next, full, err := s.Users(context.Background(), since, func(u licensing.DirectoryUser) error {
		got = append(got, u)
		return nil
	})
	must(t, err)
	return got, next, full
}

func ids(us []licensing.DirectoryUser) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func profile(email, phone string) map[string]any {
	return map[string]any{"login": "login." + email, "email": email, "firstName": "First", "lastName": "Last", "primaryPhone": phone}
}

// populate adds n active users u00000.. with phones, all in Calling Users.
func populate(f *fakeOkta, n int) {
	f.addGroup("00gcalling", "Calling Users")
	for i := range n {
		id := fmt.Sprintf("00u%05d", i)
		f.addUser(id, "ACTIVE", profile(fmt.Sprintf("user%05d@corp.example", i), fmt.Sprintf("+1212555%04d", i%10000)))
		f.groups["00gcalling"].Members[id] = true
	}
	f.groups["00gcalling"].sorted = nil
}

func TestAFullPassFollowsEveryLinkPageAndEmitsEachPageAsItArrives(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	populate(f, 450)
	s := openFake(t, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
	var firstSeenAt int
	var got []string
	_, full, err := s.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		if got = append(got, u.ID); len(got) == 1 {
			firstSeenAt = countPath(f.Requests(), "/api/v1/users?")
		}
		return nil
	})
	must(t, err)
	if !full || len(got) != 450 || !slices.IsSorted(got) {
		t.Fatalf("full=%v, %d users (sorted %v), want all 450 in Okta's order", full, len(got), slices.IsSorted(got))
	}
	if firstSeenAt != 1 {
		t.Errorf("the first user was emitted after %d user pages, want after the first", firstSeenAt)
	}
	var pages []url.Values
	for _, r := range f.Requests() {
		if rest, ok := strings.CutPrefix(r, "GET /api/v1/users?"); ok {
			q, _ := url.ParseQuery(rest)
			pages = append(pages, q)
		}
	}
	if len(pages) != 3 {
		t.Fatalf("%d user pages requested, want 3 of 200: %q", len(pages), f.Requests())
	}
	for i, q := range pages {
		if q.Get("limit") != "200" || q.Get("search") != allStatuses {
			t.Errorf("page %d query = %v, want limit 200 and the every-status search", i+1, q)
		}
	}
	if pages[0].Has("after") || pages[1].Get("after") != "00u00199" || pages[2].Get("after") != "00u00399" {
		t.Errorf("after cursors = %q, %q, %q; want none, then the last id of each page", pages[0].Get("after"), pages[1].Get("after"), pages[2].Get("after"))
	}
	if st := s.Stats(); st.Users != 450 || st.Requests != int64(len(f.Requests())) {
		t.Errorf("stats = %+v, want 450 users and %d requests", st, len(f.Requests()))
	}
}

func countPath(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET "+prefix) {
			n++
		}
	}
	return n
}

func TestUsersAreMappedFromTheProfile(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	f.addGroup("00gcalling", "Calling Users")
	f.addGroup("00gother", "All Staff")
	f.addUser("00ua", "ACTIVE", map[string]any{"login": "alice@login.example", "email": "alice@corp.example", "displayName": "Alice A", "primaryPhone": "+12125550101", "mobilePhone": "+447700900001"})
	f.addUser("00ub", "LOCKED_OUT", map[string]any{"login": "bob", "email": "bob@corp.example", "firstName": "Bob", "lastName": "B", "deskPhone": 12125550102.0})
	f.addUser("00uc", "SUSPENDED", profile("carol@corp.example", "+12125550103"))
	f.addUser("00ud", "DEPROVISIONED", profile("dave@corp.example", "+12125550104"))
	f.addUser("00ue", "STAGED", profile("erin@corp.example", "+12125550105"))
	f.join("00gcalling", "00ua")
	f.join("00gother", "00ua")
	f.join("00gcalling", "00uc")

	got, _, _ := read(t, openFake(t, f, Options{TemplateGroups: []string{"calling users"}}, nil), "")
	want := []licensing.DirectoryUser{
		{ID: "00ua", Email: "alice@corp.example", DisplayName: "Alice A", WorkPhone: "+12125550101", Enabled: true, Groups: []string{"Calling Users", "00gcalling"}},
		{ID: "00ub", Email: "bob@corp.example", DisplayName: "Bob B", Enabled: true},
		{ID: "00uc", Email: "carol@corp.example", DisplayName: "First Last", WorkPhone: "+12125550103", Enabled: false, Groups: []string{"Calling Users", "00gcalling"}},
		{ID: "00ud", Email: "dave@corp.example", DisplayName: "First Last", WorkPhone: "+12125550104", Enabled: false},
		{ID: "00ue", Email: "erin@corp.example", DisplayName: "First Last", WorkPhone: "+12125550105", Enabled: false},
	}
	assertUsers(t, got, want)

	custom, _, _ := read(t, openFake(t, f, Options{}, func(c *config.OktaSource) {
		c.Attributes = config.OktaAttributes{WorkPhone: "deskPhone", DisplayName: "login", Email: "login"}
	}), "")
	if b := custom[1]; b.WorkPhone != "12125550102" || b.Email != "bob" || b.DisplayName != "bob" {
		t.Errorf("with custom attributes bob = %+v, want the numeric deskPhone as digits and login as email and name", b)
	}
	if custom[0].Groups != nil {
		t.Errorf("groups no template names are reported: %q", custom[0].Groups)
	}
}

func assertUsers(t *testing.T, got, want []licensing.DirectoryUser) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	if string(g) != string(w) {
		t.Fatalf("users\n%s\nwant\n%s", g, w)
	}
}

func TestAGroupScopeReadsOnlyTheMembersOfThoseGroupsOnce(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	f.addGroup("00gcalling", "Calling Users")
	f.addGroup("00globby", "Lobby Phones")
	for _, id := range []string{"00u1", "00u2", "00u3", "00u4"} {
		f.addUser(id, "ACTIVE", profile(id+"@corp.example", "+12125550101"))
	}
	f.join("00gcalling", "00u1")
	f.join("00gcalling", "00u2")
	f.join("00globby", "00u2")
	f.join("00globby", "00u3")
	s := openFake(t, f, Options{TemplateGroups: []string{"Lobby Phones"}}, func(c *config.OktaSource) { c.Groups = []string{"Calling Users", "00globby"} })
	got, _, _ := read(t, s, "")
	if strings.Join(ids(got), ",") != "00u1,00u2,00u3" {
		t.Fatalf("emitted %q, want the members of both groups, each once", ids(got))
	}
	if g := got[1].Groups; strings.Join(g, ",") != "Calling Users,00gcalling,Lobby Phones,00globby" {
		t.Errorf("00u2 groups = %q", g)
	}
	if n := countPath(f.Requests(), "/api/v1/users"); n != 0 {
		t.Errorf("the whole directory was listed (%d requests) although a scope is set", n)
	}

	s = openFake(t, f, Options{}, func(c *config.OktaSource) { c.Groups = []string{"Calling Userz"} })
	_, _, err := s.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `source.okta.groups names "Calling Userz"`) {
		t.Fatalf("a scope group that does not exist gave %v", err)
	}
}

func TestIncrementalPasses(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	populate(f, 5)
	f.addGroup("00gcc", "Contact Center")
	f.addUser("00uout", "ACTIVE", profile("out@corp.example", "+12125550199"))
	clk.Advance(time.Hour)
	s := openFake(t, f, Options{TemplateGroups: []string{"Contact Center", "Calling Users"}}, nil)
	_, cp, full := read(t, s, "")
	if !full {
		t.Fatal("a pass without checkpoint was not full")
	}

	t.Run("a pass with no change emits nobody and reads one page", func(t *testing.T) {
		clk.Advance(5 * time.Minute)
		f.resetRequests()
		got, next, full := read(t, s, cp)
		if full || len(got) != 0 {
			t.Fatalf("full=%v emitted %q", full, ids(got))
		}
		if r := f.Requests(); len(r) != 2 {
			t.Errorf("requests %q, want the groups and one search page", r)
		}
		var a, b checkpoint
		must(t, json.Unmarshal([]byte(cp), &a))
		must(t, json.Unmarshal([]byte(next), &b))
		if b.Updated < a.Updated || fmt.Sprint(a.Groups) != fmt.Sprint(b.Groups) {
			t.Errorf("checkpoint went from %s to %s", cp, next)
		}
		cp = next
	})

	clk.Advance(time.Minute)
	f.update("00u00001", func(u *fakeUser) { u.Profile["primaryPhone"] = "+12125559999" })
	f.update("00u00002", func(u *fakeUser) { u.Status = "SUSPENDED" })
	f.join("00gcalling", "00uout")
	f.join("00gcc", "00u00003")
	changedAt := clk.Now()
	clk.Advance(time.Minute)

	t.Run("a changed phone, a suspension and group joins are picked up", func(t *testing.T) {
		f.resetRequests()
		got, next, full := read(t, s, cp)
		if full {
			t.Fatal("incremental pass reported full")
		}
		byID := map[string]licensing.DirectoryUser{}
		for _, u := range got {
			byID[u.ID] = u
		}
		if len(got) != len(byID) {
			t.Errorf("a user was emitted twice: %q", ids(got))
		}
		if byID["00u00001"].WorkPhone != "+12125559999" || byID["00u00002"].Enabled || byID["00u00002"].ID == "" {
			t.Errorf("changed users = %+v / %+v", byID["00u00001"], byID["00u00002"])
		}
		if g := byID["00uout"].Groups; strings.Join(g, ",") != "Calling Users,00gcalling" {
			t.Errorf("the user who joined Calling Users has groups %q (emitted: %q)", g, ids(got))
		}
		if g := byID["00u00003"].Groups; strings.Join(g, ",") != "Calling Users,00gcalling,Contact Center,00gcc" {
			t.Errorf("the user who joined Contact Center has groups %q", g)
		}
		var prev checkpoint
		must(t, json.Unmarshal([]byte(cp), &prev))
		from, _ := time.Parse(timeLayout, prev.Updated)
		wantSearch := fmt.Sprintf("lastUpdated gt %q", from.Add(-defaultOverlap).Format(timeLayout))
		found := false
		for _, r := range f.Requests() {
			if rest, ok := strings.CutPrefix(r, "GET /api/v1/users?"); ok {
				q, _ := url.ParseQuery(rest)
				found = found || q.Get("search") == wantSearch
			}
		}
		if !found {
			t.Errorf("no search for %s in %q", wantSearch, f.Requests())
		}
		var c checkpoint
		must(t, json.Unmarshal([]byte(next), &c))
		if c.Updated != changedAt.Format(timeLayout) {
			t.Errorf("checkpoint updated = %s, want the newest lastUpdated seen, %s", c.Updated, changedAt.Format(timeLayout))
		}
		cp = next
	})

	t.Run("the changes are not emitted again by the next pass", func(t *testing.T) {
		clk.Advance(time.Minute)
		got, _, _ := read(t, s, cp)
		if len(got) != 0 {
			t.Errorf("emitted %q again", ids(got))
		}
	})

	t.Run("another set of template groups needs a full pass", func(t *testing.T) {
		other := openFake(t, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
		got, _, full := read(t, other, cp)
		if !full || len(got) != 6 {
			t.Errorf("full=%v, %d users; want a full read of 6", full, len(got))
		}
	})
}

func TestTheCheckpointIsNeverLaterThanTheServerTimeAtTheStart(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	populate(f, 3)
	start := clk.Now()
	s := openFake(t, f, Options{}, nil)
	// A user changed while the pass runs, after the groups were read.
	var once bool
	_, next, _, err := func() ([]licensing.DirectoryUser, string, bool, error) {
		n, full, err := s.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
			if !once {
				once = true
				clk.Advance(30 * time.Second)
				f.update("00u00002", func(u *fakeUser) { u.Profile["primaryPhone"] = "+12125550000" })
			}
			return nil
		})
		return nil, n, full, err
	}()
	must(t, err)
	var c checkpoint
	must(t, json.Unmarshal([]byte(next), &c))
	if c.Updated != start.Format(timeLayout) {
		t.Fatalf("checkpoint = %s, want the server's Date at the start, %s", c.Updated, start.Format(timeLayout))
	}
	clk.Advance(time.Minute)
	got, _, _ := read(t, s, next)
	if strings.Join(ids(got), ",") != "00u00002" {
		t.Errorf("the next pass emitted %q, want the user changed during the previous one", ids(got))
	}
}

func TestAnEmitErrorStopsThePassAndIsReturnedAsIs(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	populate(f, 450)
	s := openFake(t, f, Options{}, nil)
	stop := fmt.Errorf("spill full")
	n := 0
	_, _, err := s.Users(context.Background(), "", func(licensing.DirectoryUser) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err = %v after %d users, want the emit error after one", err, n)
	}
	if got := countPath(f.Requests(), "/api/v1/users?"); got != 1 {
		t.Errorf("%d user pages read after the stop, want 1", got)
	}
}

func TestAnIncrementalPassWithFewChangesAsksForTheirGroupsUserByUser(t *testing.T) {
	clk := newFakeClock()
	f := newFakeOkta(t, clk, testToken)
	populate(f, 3000) // Calling Users: 3 pages of members
	f.addGroup("00gcc", "Contact Center")
	f.join("00gcc", "00u00007")
	f.join("00gcc", "00u00008") // Contact Center: 1 page
	clk.Advance(time.Hour)
	s := openFake(t, f, Options{TemplateGroups: []string{"Contact Center", "Calling Users"}}, nil)
	_, cp, _ := read(t, s, "")
	change := func(ids ...string) {
		clk.Advance(5 * time.Minute)
		for _, id := range ids {
			f.update(id, func(u *fakeUser) { u.Profile["primaryPhone"] = "+16465550100" })
		}
		clk.Advance(time.Minute)
		f.resetRequests()
	}
	groupsOf := func(got []licensing.DirectoryUser) map[string]string {
		m := map[string]string{}
		for _, u := range got {
			m[u.ID] = strings.Join(u.Groups, ",")
		}
		return m
	}

	change("00u00007", "00u00100")
	got, next, _ := read(t, s, cp)
	want := map[string]string{"00u00007": "Calling Users,00gcalling,Contact Center,00gcc", "00u00100": "Calling Users,00gcalling"}
	if g := groupsOf(got); len(g) > 10 || fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("emitted %d users (%v...), want %v", len(g), ids(got)[:min(len(got), 5)], want)
	}
	if n, m := countPath(f.Requests(), "/api/v1/users/"), countPath(f.Requests(), "/api/v1/groups/"); n != 2 || m != 0 {
		t.Errorf("%d user group lookups and %d member pages, want 2 lookups and no member read", n, m)
	}

	six := []string{"00u00001", "00u00002", "00u00003", "00u00004", "00u00005", "00u00008"}
	change(six...)
	got, _, _ = read(t, s, next)
	if g := groupsOf(got); len(g) > 10 || len(g) != 6 || g["00u00008"] != "Calling Users,00gcalling,Contact Center,00gcc" || g["00u00005"] != "Calling Users,00gcalling" {
		t.Errorf("emitted %v", g)
	}
	// Four lookups cost as much as the four member pages: then the members
	// are read once instead.
	if n, m := countPath(f.Requests(), "/api/v1/users/"), countPath(f.Requests(), "/api/v1/groups/"); n != 4 || m != 4 {
		t.Errorf("%d lookups and %d member pages, want 4 and 4", n, m)
	}
}

func TestAnUnreadableCheckpointGivesAFullPass(t *testing.T) {
	f := newFakeOkta(t, newFakeClock(), testToken)
	populate(f, 3)
	s := openFake(t, f, Options{}, nil)
	for _, cp := range []string{"not json", `{"scope":"x"}`, `{"updated":"yesterday"}`} {
		got, next, full := read(t, s, cp)
		if !full || len(got) != 3 || !strings.Contains(next, `"updated":"2026-`) {
			t.Errorf("checkpoint %q: full=%v, %d users, next %s; want a full read and a usable checkpoint", cp, full, len(got), next)
		}
	}
}
