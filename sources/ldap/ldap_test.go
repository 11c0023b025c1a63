package ldap

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

const testUsers = 1200

// read runs one pass and returns the users emitted, keyed by lower-case email.
func read(t *testing.T, src *Source, since string) (map[string]licensing.DirectoryUser, string, bool) {
	t.Helper()
	got := map[string]licensing.DirectoryUser{}
	next, full, err := src.Users(context.Background(), since, func(u licensing.DirectoryUser) error {
		got[strings.ToLower(u.Email)] = u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, next, full
}

func open(t *testing.T, cfg config.LDAPSource) *Source {
	t.Helper()
	src, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestPagedPassStreamsEveryUserPageByPage(t *testing.T) {
	srv := startSlapd(t, directory(testUsers), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	cfg.PageSize = 100
	src := open(t, cfg)

	pagesAtFirstUser := -1
	ids := map[string]bool{}
	start := time.Now()
	_, full, err := src.Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		if pagesAtFirstUser < 0 {
			pagesAtFirstUser = src.stats.Pages
		}
		ids[u.ID] = true
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !full {
		t.Error("a pass without checkpoint must report full=true")
	}
	if len(ids) != testUsers {
		t.Fatalf("emitted %d distinct users, want %d", len(ids), testUsers)
	}
	st := src.Stats()
	// One page of groups, then twelve pages of users.
	if st.Pages < 1+testUsers/100 {
		t.Errorf("read %d pages, want at least %d", st.Pages, 1+testUsers/100)
	}
	if pagesAtFirstUser >= st.Pages {
		t.Errorf("the first user was emitted after %d of %d pages: users must stream as pages arrive", pagesAtFirstUser, st.Pages)
	}
	t.Logf("%d users in %d pages in %v (%.0f users/s)", st.Users, st.Pages, elapsed, float64(st.Users)/elapsed.Seconds())
}

func TestUsersCarryTheirFieldsStateAndNestedGroups(t *testing.T) {
	srv := startSlapd(t, directory(40), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	got, _, _ := read(t, open(t, cfg), "")

	adCfg := srv.config(DialectAD, adBase)
	gotAD, nextAD, fullAD := read(t, open(t, adCfg), "")
	if !fullAD {
		t.Error("an AD pass without checkpoint must report full=true")
	}
	if _, fullAgain, err := open(t, adCfg).Users(context.Background(), nextAD, func(licensing.DirectoryUser) error { return nil }); err != nil || !fullAgain {
		t.Errorf("a server without highestCommittedUSN must get full passes, got full=%v err=%v", fullAgain, err)
	}

	tests := []struct {
		name       string
		users      map[string]licensing.DirectoryUser
		email      string
		wantID     string
		wantName   string
		wantPhone  string
		wantOn     bool
		wantGroups []string
	}{
		{"an enabled user has its fields and direct group", got, "u0020@example.com", "", "User 20", "+1 415 555 0020", true,
			[]string{groupDN("support"), groupDN("all-staff")}},
		{"an account with the disabled bit is emitted as disabled", got, "u0007@example.com", "", "User 7", "+1 415 555 0007", false,
			[]string{groupDN("sales"), groupDN("sales-emea"), groupDN("all-staff")}},
		{"a member of a group in a cycle gets every group of the cycle once", got, "u0010@example.com", "", "User 10", "+1 415 555 0010", true,
			[]string{groupDN("sales-emea"), groupDN("sales"), groupDN("all-staff")}},
		{"a member of a groupOfUniqueNames gets it and its parents", got, "u0021@example.com", "", "User 21", "+1 415 555 0021", false,
			[]string{groupDN("newcomers"), groupDN("sales"), groupDN("sales-emea"), groupDN("all-staff")}},
		{"a user in no group has none", got, "u0030@example.com", "", "User 30", "+1 415 555 0030", true, nil},
		{"an AD user's objectGUID is rendered in its string form", gotAD, "ann@corp.example", guidText, "Ann", "+44 20 7946 0000", true,
			[]string{"cn=Admins," + adBase, "cn=IT," + adBase}},
		{"an AD user without mail falls back to userPrincipalName", gotAD, "bob@corp.example", "00000000-0000-0000-0000-000000000000", "Bob", "", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tt.users[tt.email]
			if !ok {
				t.Fatalf("%s was not emitted", tt.email)
			}
			if tt.wantID != "" && u.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", u.ID, tt.wantID)
			}
			if u.ID == "" {
				t.Error("empty ID")
			}
			if u.DisplayName != tt.wantName || u.WorkPhone != tt.wantPhone || u.Enabled != tt.wantOn {
				t.Errorf("got name %q phone %q enabled %v, want %q %q %v", u.DisplayName, u.WorkPhone, u.Enabled, tt.wantName, tt.wantPhone, tt.wantOn)
			}
			if !sameDNs(u.Groups, tt.wantGroups) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.wantGroups)
			}
		})
	}
}

// sameDNs compares two DN lists as sets, ignoring case.
func sameDNs(got, want []string) bool {
	norm := func(l []string) []string {
		out := make([]string, len(l))
		for i, dn := range l {
			out[i] = normDN(dn)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(got), norm(want))
}

func TestIncrementalPassReadsOnlyWhatChanged(t *testing.T) {
	tests := []struct {
		name         string
		noContextCSN bool
	}{
		{"on a server that keeps contextCSN", false},
		{"on a server without contextCSN, from the newest change seen", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSlapd(t, directory(300), options{NoContextCSN: tt.noContextCSN})
			cfg := srv.config(DialectOpenLDAP, people)
			cfg.GroupBaseDN = groups
			cfg.PageSize = 50
			src := open(t, cfg)
			all, cp, full := read(t, src, "")
			if !full || len(all) != 300 {
				t.Fatalf("first pass: full=%v, %d users", full, len(all))
			}

			unchanged, cp, full := read(t, src, cp)
			if full || len(unchanged) != 0 {
				t.Fatalf("a pass with nothing changed: full=%v, emitted %v", full, keys(unchanged))
			}

			admin := srv.admin()
			phone := goldap.NewModifyRequest(userDN(100), nil)
			phone.Replace("telephoneNumber", []string{"+1 415 555 9100"})
			must(t, admin.Modify(phone))
			disable := goldap.NewModifyRequest(userDN(200), nil)
			disable.Replace("userAccountControl", []string{"514"})
			must(t, admin.Modify(disable))
			join := goldap.NewModifyRequest(groupDN("newcomers"), nil)
			join.Add("uniqueMember", []string{userDN(250)})
			must(t, admin.Modify(join))

			changed, cp, full := read(t, src, cp)
			if full {
				t.Error("an incremental pass must report full=false")
			}
			// u0021 is re-read with u0250: the members of a changed group are.
			want := []string{"u0021@example.com", "u0100@example.com", "u0200@example.com", "u0250@example.com"}
			if got := keys(changed); !slices.Equal(got, want) {
				t.Fatalf("emitted %v, want exactly %v", got, want)
			}
			if u := changed["u0100@example.com"]; u.WorkPhone != "+1 415 555 9100" {
				t.Errorf("changed phone = %q", u.WorkPhone)
			}
			if u := changed["u0200@example.com"]; u.Enabled {
				t.Error("the newly disabled user is still enabled")
			}
			if u := changed["u0250@example.com"]; !sameDNs(u.Groups, []string{groupDN("newcomers"), groupDN("sales"), groupDN("sales-emea"), groupDN("all-staff")}) {
				t.Errorf("the user added to a nested template group has groups %q", u.Groups)
			}

			again, _, _ := read(t, src, cp)
			if len(again) != 0 {
				t.Errorf("a pass after the incremental one emitted %v", keys(again))
			}
		})
	}
}

func keys(m map[string]licensing.DirectoryUser) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCheckpointsThatNoLongerApplyGiveAFullPass(t *testing.T) {
	srv := startSlapd(t, directory(30), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	_, cp, _ := read(t, open(t, cfg), "")
	other := cfg
	other.Filter = "(&(objectClass=inetOrgPerson)(mail=*))"

	tests := []struct {
		name  string
		cfg   config.LDAPSource
		since string
	}{
		{"an unreadable checkpoint", cfg, "{not json"},
		{"a checkpoint taken with another filter", other, cp},
		{"a checkpoint of the other dialect", cfg, `{"dialect":"ad","usn":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, full := read(t, open(t, tt.cfg), tt.since)
			if !full || len(got) != 30 {
				t.Errorf("full=%v with %d users, want a full pass of 30", full, len(got))
			}
		})
	}
}

func TestACancelledContextStopsThePass(t *testing.T) {
	srv := startSlapd(t, directory(300), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.PageSize = 20
	src := open(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, _, err := src.Users(ctx, "", func(licensing.DirectoryUser) error {
		if calls++; calls == 30 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if calls != 30 {
		t.Errorf("emit was called %d times, want no call after the cancel at 30", calls)
	}
	if got, _, _ := read(t, src, ""); len(got) != 300 {
		t.Errorf("the next pass read %d users, want 300 on a new connection", len(got))
	}
}

func TestADIncrementalPassFollowsTheUSNsOfOneDomainController(t *testing.T) {
	srv := startSlapd(t, directory(0), options{})
	restart := func(usn string) {
		srv.setRootDSE("highestCommittedUSN: "+usn, "dsServiceName: "+ntdsDN)
		srv.stop()
		srv.start()
	}
	restart("1000")
	src := open(t, srv.config(DialectAD, adBase))
	src.backoff = 10 * time.Millisecond

	all, cp, full := read(t, src, "")
	if !full || len(all) != 2 {
		t.Fatalf("first pass: full=%v with %v", full, keys(all))
	}
	if !strings.Contains(cp, guidText) || !strings.Contains(cp, `"usn":1000`) {
		t.Errorf("checkpoint %s does not hold the DC's invocationId and highestCommittedUSN", cp)
	}

	// AD raises a changed entry's uSNChanged and the DC's highestCommittedUSN.
	ann := goldap.NewModifyRequest("cn=Ann,"+adBase, nil)
	ann.Replace("uSNChanged", []string{"1001"})
	ann.Replace("telephoneNumber", []string{"+44 20 7946 0001"})
	must(t, srv.admin().Modify(ann))
	restart("1001")

	changed, cp, full := read(t, src, cp)
	if full || !slices.Equal(keys(changed), []string{"ann@corp.example"}) {
		t.Fatalf("incremental pass: full=%v with %v, want only ann", full, keys(changed))
	}
	if got := changed["ann@corp.example"].WorkPhone; got != "+44 20 7946 0001" {
		t.Errorf("phone = %q", got)
	}
	if none, _, _ := read(t, src, cp); len(none) != 0 {
		t.Errorf("a pass with nothing changed emitted %v", keys(none))
	}

	// A restored DC gets a new invocationId: its USNs no longer compare.
	restore := goldap.NewModifyRequest(ntdsDN, nil)
	restore.Replace("invocationId", []string{string(make([]byte, 16))})
	must(t, srv.admin().Modify(restore))
	if again, _, full := read(t, src, cp); !full || len(again) != 2 {
		t.Errorf("after a new invocationId: full=%v with %v, want a full pass", full, keys(again))
	}
}

func TestAChangeMadeWhileAPassRunsIsReadByTheNextPass(t *testing.T) {
	srv := startSlapd(t, directory(300), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.PageSize = 50
	src := open(t, cfg)
	admin := srv.admin()
	modify := func(i int, phone string) {
		m := goldap.NewModifyRequest(userDN(i), nil)
		m.Replace("telephoneNumber", []string{phone})
		must(t, admin.Modify(m))
	}
	first := true
	// u0001 changes after its page was read, then u0299, on a later page,
	// changes too: the pass sees u0299's change but not u0001's.
	cp, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error {
		if first {
			first = false
			modify(1, "+1 415 555 7001")
			modify(299, "+1 415 555 7299")
		}
		return nil
	})
	must(t, err)
	got, _, _ := read(t, src, cp)
	if u, ok := got["u0001@example.com"]; !ok || u.WorkPhone != "+1 415 555 7001" {
		t.Errorf("the next pass emitted %v; u0001's change was lost", keys(got))
	}
}

// withMemberOf adds to ldif the memberOf values the memberof overlay keeps:
// one on each member of a groupOfNames, groups included.
func withMemberOf(ldif string) string {
	entries := strings.Split(strings.TrimSpace(ldif), "\n\n")
	of := map[string][]string{}
	for _, e := range entries {
		lines := strings.Split(e, "\n")
		if !slices.Contains(lines, "objectClass: groupOfNames") {
			continue
		}
		dn := strings.TrimPrefix(lines[0], "dn: ")
		for _, l := range lines {
			if m, ok := strings.CutPrefix(l, "member: "); ok {
				of[normDN(m)] = append(of[normDN(m)], dn)
			}
		}
	}
	for i, e := range entries {
		lines := strings.Split(e, "\n")
		for _, g := range of[normDN(strings.TrimPrefix(lines[0], "dn: "))] {
			if !slices.Contains(lines, "memberOf: "+g) {
				lines = append(lines, "memberOf: "+g)
			}
		}
		entries[i] = strings.Join(lines, "\n")
	}
	return strings.Join(entries, "\n\n") + "\n"
}

func TestAServerThatKeepsMemberOfGivesTheSameGroupsWithoutMemberValues(t *testing.T) {
	srv := startSlapd(t, withMemberOf(directory(300)), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	src := open(t, cfg)
	all, cp, _ := read(t, src, "")

	admin := srv.admin()
	// The overlay records u0250's membership on u0250; it does not track
	// groupOfUniqueNames, so u0260's is only in the group.
	join := goldap.NewModifyRequest(groupDN("sales-emea"), nil)
	join.Add("member", []string{userDN(250)})
	must(t, admin.Modify(join))
	unique := goldap.NewModifyRequest(groupDN("newcomers"), nil)
	unique.Add("uniqueMember", []string{userDN(260)})
	must(t, admin.Modify(unique))
	changed, _, full := read(t, src, cp)
	if full {
		t.Error("the pass after the joins was a full pass")
	}

	nested := []string{groupDN("sales"), groupDN("sales-emea"), groupDN("all-staff")}
	tests := []struct {
		name  string
		users map[string]licensing.DirectoryUser
		email string
		want  []string
	}{
		{"a member of a group in a cycle gets every group of the cycle", all, "u0010@example.com", nested},
		{"a direct member gets its group and the group's parents", all, "u0020@example.com", []string{groupDN("support"), groupDN("all-staff")}},
		{"a member of a groupOfUniqueNames gets it and its parents", all, "u0021@example.com", append([]string{groupDN("newcomers")}, nested...)},
		{"a user in no group has none", all, "u0030@example.com", nil},
		{"a user who joined a groupOfNames is read again with it", changed, "u0250@example.com", nested},
		{"a user who joined a groupOfUniqueNames is read again with it", changed, "u0260@example.com", append([]string{groupDN("newcomers")}, nested...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tt.users[tt.email]
			if !ok {
				t.Fatalf("%s was not emitted", tt.email)
			}
			if !sameDNs(u.Groups, tt.want) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.want)
			}
		})
	}
}

func TestAUserAccountControlThatIsNotANumberMakesTheRecordUnreadable(t *testing.T) {
	tests := []struct {
		name        string
		attrs       map[string][]string
		wantEnabled bool
		wantProblem string
	}{
		{"a normal account is enabled", map[string][]string{"userAccountControl": {"512"}}, true, ""},
		{"the ACCOUNTDISABLE bit disables", map[string][]string{"userAccountControl": {"514"}}, false, ""},
		{"letters are unreadable, not enabled", map[string][]string{"userAccountControl": {"abc"}}, false, `userAccountControl is "abc", want a number`},
		{"a hexadecimal value is unreadable", map[string][]string{"userAccountControl": {"0x202"}}, false, `userAccountControl is "0x202", want a number`},
		{"a long value is quoted cut short", map[string][]string{"userAccountControl": {strings.Repeat("x", 500)}}, false,
			`userAccountControl is "` + strings.Repeat("x", 64) + `", want a number`},
		{"an OpenLDAP lock disables", map[string][]string{"pwdAccountLockedTime": {"000001010000Z"}}, false, ""},
		{"no flag at all is enabled", map[string][]string{"cn": {"a"}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on, problem := enabled(goldap.NewEntry("uid=a,dc=x", tt.attrs))
			if on != tt.wantEnabled || problem != tt.wantProblem {
				t.Errorf("enabled = %v, %q; want %v, %q", on, problem, tt.wantEnabled, tt.wantProblem)
			}
		})
	}

	t.Run("a value the server stores but that overflows is read as unreadable", func(t *testing.T) {
		srv := startSlapd(t, directory(10), options{})
		// slapd keeps integers of any size; AD's flags fit in 32 bits.
		const huge = "36893488147419103234"
		m := goldap.NewModifyRequest(userDN(1), nil)
		m.Replace("userAccountControl", []string{huge})
		must(t, srv.admin().Modify(m))
		got, _, _ := read(t, open(t, srv.config(DialectOpenLDAP, people)), "")
		if u := got["u0001@example.com"]; u.Unreadable != `userAccountControl is "`+huge+`", want a number` || u.Enabled {
			t.Errorf("the user with userAccountControl %s: enabled %v, unreadable %q", huge, u.Enabled, u.Unreadable)
		}
		for email, u := range got {
			if email != "u0001@example.com" && u.Unreadable != "" {
				t.Errorf("%s is unreadable: %q", email, u.Unreadable)
			}
		}
		if u := got["u0007@example.com"]; u.Enabled {
			t.Error("u0007, disabled, reads as enabled")
		}
	})
}

func TestGroupsBesideTheUsersOUCountWithoutGroupBaseDN(t *testing.T) {
	srv := startSlapd(t, directory(300), options{})
	// ou=people and ou=groups are siblings, and group_base_dn is not set.
	src := open(t, srv.config(DialectOpenLDAP, people))
	all, cp, _ := read(t, src, "")

	admin := srv.admin()
	join := goldap.NewModifyRequest(groupDN("newcomers"), nil)
	join.Add("uniqueMember", []string{userDN(250)})
	must(t, admin.Modify(join))
	changed, _, full := read(t, src, cp)
	if full {
		t.Error("the pass after the join was a full pass")
	}
	if got, want := keys(changed), []string{"u0021@example.com", "u0250@example.com"}; !slices.Equal(got, want) {
		t.Errorf("the pass after the join emitted %v, want exactly %v", got, want)
	}

	nested := []string{groupDN("sales"), groupDN("sales-emea"), groupDN("all-staff")}
	tests := []struct {
		name  string
		users map[string]licensing.DirectoryUser
		email string
		want  []string
	}{
		{"a direct member gets its group and the group's parent", all, "u0020@example.com", []string{groupDN("support"), groupDN("all-staff")}},
		{"a member of a nested group gets every group above it", all, "u0010@example.com", nested},
		{"a member of a groupOfUniqueNames gets it and its parents", all, "u0021@example.com", append([]string{groupDN("newcomers")}, nested...)},
		{"a user who joined a nested group is read again with every group above it", changed, "u0250@example.com", append([]string{groupDN("newcomers")}, nested...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tt.users[tt.email]
			if !ok {
				t.Fatalf("%s was not emitted", tt.email)
			}
			if !sameDNs(u.Groups, tt.want) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.want)
			}
		})
	}
}

func TestATemplateGroupThePassDoesNotFindIsWarnedAbout(t *testing.T) {
	srv := startSlapd(t, directory(30), options{})
	tests := []struct {
		name      string
		groupBase string
		templates []string
		// want are the groups warned about over two passes, and wantBase
		// the group search base the warnings name.
		want     []string
		wantBase string
	}{
		{"groups found by name or by DN are not warned about", "", []string{"sales", "CN=All-Staff,OU=Groups,DC=example,DC=com"}, nil, ""},
		{"a group that does not exist is warned about once, not at every pass", "", []string{"sales", "Sales Pilot"}, []string{"Sales Pilot"}, suffix},
		{"a group outside group_base_dn is warned about", adBase, []string{"sales", "Admins"}, []string{"sales"}, adBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.config(DialectOpenLDAP, people)
			cfg.GroupBaseDN = tt.groupBase
			core, logs := observer.New(zap.WarnLevel)
			src, err := Open(context.Background(), cfg, zap.New(core), TemplateGroups(tt.templates...))
			must(t, err)
			defer src.Close()
			_, cp, _ := read(t, src, "")
			read(t, src, cp)
			var got []string
			for _, e := range logs.All() {
				fields := e.ContextMap()
				got = append(got, fields["group"].(string))
				if fields["group_base_dn"] != tt.wantBase {
					t.Errorf("the warning names group_base_dn %q, want %q", fields["group_base_dn"], tt.wantBase)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warned about %q, want %q", got, tt.want)
			}
		})
	}
}
