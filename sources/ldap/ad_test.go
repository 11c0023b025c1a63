package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
)

// The tests in this file run against the real Samba AD domain controller.

func TestSambaADFullPassReadsUsersAsADKeepsThem(t *testing.T) {
	s := samba(t)
	src := open(t, s.config(adStaff))
	got, _, full := read(t, src, "")
	if !full {
		t.Error("a pass without checkpoint must report full=true")
	}
	// The computer account under OU=Staff is a user too, in objectClass.
	if len(got) != adUsers {
		t.Fatalf("read %d users, want the %d person accounts and not the computer", len(got), adUsers)
	}
	if st := src.Stats(); st.Pages < adUsers/defaultPageSize {
		t.Errorf("read %d pages, want at least %d pages of %d", st.Pages, adUsers/defaultPageSize, defaultPageSize)
	}
	g := adGroupDN
	tests := []struct {
		name       string
		i          int
		email      string
		enabled    bool
		wantGroups []string
	}{
		{"a user with mail is known by mail, not by its userPrincipalName", 44, adMail(44), true, nil},
		{"a user without mail falls back to its userPrincipalName", 3, adUPN(3), true, []string{g("Calling Users")}},
		{"an account with the ACCOUNTDISABLE bit is read and disabled", 14, adMail(14), false, []string{g("Sales EMEA"), g("Calling Users")}},
		{"a member two levels down gets every group above it", 20, adMail(20), true,
			[]string{g("Sales EMEA North"), g("Sales EMEA"), g("Calling Users")}},
		{"a member of a group cycle gets both groups once", 30, adMail(30), true, []string{g("Loop B"), g("Loop A")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := got[tt.email]
			if !ok {
				t.Fatalf("%s was not read", tt.email)
			}
			if want := s.ldbValue(t, adUserDN(tt.i), "objectGUID"); u.ID != want {
				t.Errorf("ID = %q, want the objectGUID %q", u.ID, want)
			}
			if want := fmt.Sprintf("Staff User %04d", tt.i); u.DisplayName != want {
				t.Errorf("display name = %q, want %q", u.DisplayName, want)
			}
			if want := fmt.Sprintf("+1 415 555 %04d", tt.i); u.WorkPhone != want {
				t.Errorf("work phone = %q, want %q", u.WorkPhone, want)
			}
			if u.Enabled != tt.enabled {
				t.Errorf("enabled = %v, want %v", u.Enabled, tt.enabled)
			}
			if !sameDNs(u.Groups, tt.wantGroups) || len(u.Groups) != len(tt.wantGroups) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.wantGroups)
			}
		})
	}
}

func TestSambaADPagingAndScope(t *testing.T) {
	s := samba(t)
	tests := []struct {
		name     string
		base     string
		pageSize int
		want     int
	}{
		{"pages above the server's 1000-entry cap still read everyone", adStaff, 5000, adUsers},
		{"small pages read everyone", adStaff, 150, adUsers},
		// Administrator, Guest, krbtgt and dns-DC1 live in CN=Users; the demo's 34
		// users in OU=Demo. A search at the root meets referrals it must not follow.
		{"a search at the domain root reads every person account", adDomain, 500, adUsers + 34 + 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.config(tt.base)
			cfg.PageSize = tt.pageSize
			ids := map[string]bool{}
			_, _, err := open(t, cfg).Users(context.Background(), "", func(u licensing.DirectoryUser) error {
				ids[u.ID] = true
				return nil
			})
			must(t, err)
			if len(ids) != tt.want {
				t.Errorf("read %d users, want %d", len(ids), tt.want)
			}
		})
	}
}

// rootDSE reads the domain controller's highestCommittedUSN.
func (s *sambaDC) highestUSN(t *testing.T) int64 {
	t.Helper()
	res, err := s.admin(t).Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"highestCommittedUSN"}, nil))
	must(t, err)
	usn, err := strconv.ParseInt(res.Entries[0].GetAttributeValue("highestCommittedUSN"), 10, 64)
	must(t, err)
	return usn
}

func TestSambaADIncrementalPassFollowsUSNChanged(t *testing.T) {
	s := samba(t)
	src := open(t, s.config(adStaff))
	before := s.highestUSN(t)
	all, cp, full := read(t, src, "")
	if !full || len(all) != adUsers {
		t.Fatalf("first pass: full=%v with %d users", full, len(all))
	}
	var c checkpoint
	must(t, json.Unmarshal([]byte(cp), &c))
	ntds := "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration," + adDomain
	if want := s.ldbValue(t, ntds, "invocationId"); c.Server != want {
		t.Errorf("checkpoint server = %q, want the DC's invocationId %q", c.Server, want)
	}
	if c.USN != before {
		t.Errorf("checkpoint USN = %d, want the highestCommittedUSN %d read before the pass", c.USN, before)
	}

	none, cp, full := read(t, src, cp)
	if full || len(none) != 0 {
		t.Fatalf("a pass with nothing changed: full=%v with %v", full, keys(none))
	}

	admin := s.admin(t)
	phone := goldap.NewModifyRequest(adUserDN(100), nil)
	phone.Replace("telephoneNumber", []string{"+1 415 555 9100"})
	must(t, admin.Modify(phone))
	disable := goldap.NewModifyRequest(adUserDN(101), nil)
	disable.Replace("userAccountControl", []string{"514"})
	must(t, admin.Modify(disable))
	// Joining a group changes the group's uSNChanged, not the user's.
	join := goldap.NewModifyRequest(adGroupDN("Sales EMEA North"), nil)
	join.Add("member", []string{adUserDN(102)})
	must(t, admin.Modify(join))

	changed, cp, full := read(t, src, cp)
	if full {
		t.Error("an incremental pass must report full=false")
	}
	// Sales EMEA North's other members are re-read with s0102, through the
	// in-chain rule.
	var want []string
	for _, i := range []int{100, 101, 102, 20, 21, 22, 23, 24} {
		want = append(want, adKey(i))
	}
	slices.Sort(want)
	if got := keys(changed); !slices.Equal(got, want) {
		t.Fatalf("emitted %v, want exactly %v", got, want)
	}
	if u := changed[adMail(100)]; u.WorkPhone != "+1 415 555 9100" {
		t.Errorf("changed phone = %q", u.WorkPhone)
	}
	if changed[adMail(101)].Enabled {
		t.Error("the newly disabled user is still enabled")
	}
	if u := changed[adMail(102)]; !sameDNs(u.Groups, []string{adGroupDN("Sales EMEA North"), adGroupDN("Sales EMEA"), adGroupDN("Calling Users")}) {
		t.Errorf("the user added to a nested template group has groups %q", u.Groups)
	}
	if again, _, _ := read(t, src, cp); len(again) != 0 {
		t.Errorf("a pass after the incremental one emitted %v", keys(again))
	}

	cp = s.leaversAreReported(t, src, cp)
	must(t, json.Unmarshal([]byte(cp), &c))
	edits := []struct {
		name string
		edit func(c *checkpoint)
	}{
		{"a checkpoint of another DC or of a restored one, with another invocationId", func(c *checkpoint) {
			c.Server = "00000000-1111-2222-3333-444444444444"
		}},
		{"a checkpoint beyond the DC's highestCommittedUSN", func(c *checkpoint) { c.USN += 1_000_000 }},
	}
	for _, tt := range edits {
		t.Run(tt.name+" gives a full pass", func(t *testing.T) {
			e := c
			tt.edit(&e)
			b, err := json.Marshal(e)
			must(t, err)
			got, _, full := read(t, src, string(b))
			if !full || len(got) != adUsers {
				t.Errorf("full=%v with %d users, want a full pass of %d", full, len(got), adUsers)
			}
		})
	}
}

func TestSambaADConnectionFailuresAndTLS(t *testing.T) {
	s := samba(t)
	const wrongPass = "Wr0ng-Pa55-w0rd?"
	tests := []struct {
		name    string
		change  func(c *config.LDAPSource)
		wantErr []string
	}{
		{"ldaps verifies the DC against ca_file", func(c *config.LDAPSource) { c.URLs, c.CAFile = []string{s.ldaps}, s.ca }, nil},
		{"StartTLS verifies the DC against ca_file", func(c *config.LDAPSource) { c.StartTLS, c.CAFile = true, s.ca }, nil},
		{"ldaps refuses a DC whose certificate another CA signed", func(c *config.LDAPSource) { c.URLs, c.CAFile = []string{s.ldaps}, s.otherCA },
			[]string{s.ldaps, "TLS", "check ca_file"}},
		{"a wrong password names bind_dn and bind_password", func(c *config.LDAPSource) { c.BindPassword = wrongPass },
			[]string{s.url, adAdmin, "check bind_dn and bind_password"}},
		{"a base DN that does not exist names base_dn", func(c *config.LDAPSource) { c.BaseDN = "OU=Nowhere," + adDomain },
			[]string{s.url, "OU=Nowhere", "check base_dn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.config(adDemo)
			tt.change(&cfg)
			err := tryPass(cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tt.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q", w)
				}
			}
			for _, secret := range []string{wrongPass, adPassword} {
				if strings.Contains(msg, secret) {
					t.Error("the error shows a password")
				}
			}
		})
	}
}

func TestSambaADGivesTheDemoTheSameReportAsTheFile(t *testing.T) {
	s := samba(t)
	demo := filepath.Join("..", "..", "testdata", "demo")
	cfg, err := config.Load(filepath.Join(demo, "licensync.yaml"), config.Options{})
	must(t, err)
	fromFile := demoPlan(t, cfg, file.New(filepath.Join(demo, "directory.csv"), nil))
	lc := s.config(adDemo)
	lc.Attributes.ID = "sAMAccountName"
	src, err := Open(context.Background(), lc, zap.NewNop())
	must(t, err)
	defer src.Close()
	fromAD := demoPlan(t, cfg, src)
	// AD returns entries in no particular order; the report keeps the
	// source's order.
	if a, b := sortedRows(fromFile), sortedRows(fromAD); !slices.Equal(a, b) || len(a) != 35 {
		t.Fatalf("the reports differ\nfile:\n%s\nad:\n%s", fromFile, fromAD)
	}
	if !strings.Contains(string(fromAD), string(licensing.Skipped)+","+string(licensing.CauseDisabled)) {
		t.Errorf("the report has no %s/%s row:\n%s", licensing.Skipped, licensing.CauseDisabled, fromAD)
	}
}

// sortedRows returns a report's header and then its rows in order.
func sortedRows(report []byte) []string {
	rows := strings.Split(strings.TrimSpace(string(report)), "\n")
	slices.Sort(rows[1:])
	return rows
}

// leaversAreReported removes a user and a nested group from template
// groups and deletes a user, and checks that the next incremental pass
// reports each; it puts the memberships back when the test ends.
func (s *sambaDC) leaversAreReported(t *testing.T, src *Source, cp string) string {
	t.Helper()
	admin := s.admin(t)
	modify := func(group, op, member string) {
		m := goldap.NewModifyRequest(adGroupDN(group), nil)
		if op == "add" {
			m.Add("member", []string{member})
		} else {
			m.Delete("member", []string{member})
		}
		must(t, admin.Modify(m))
	}
	leaver := "CN=Leaver,OU=Sales," + adStaff
	add := goldap.NewAddRequest(leaver, nil)
	add.Attribute("objectClass", []string{"user"})
	add.Attribute("sAMAccountName", []string{"leaver"})
	add.Attribute("mail", []string{"leaver@corp.example"})
	must(t, admin.Add(add))
	joined, cp, _ := read(t, src, cp)
	if !slices.Equal(keys(joined), []string{"leaver@corp.example"}) {
		t.Fatalf("after adding a user, the incremental pass emitted %v", keys(joined))
	}
	leaverID := joined["leaver@corp.example"].ID

	modify("Calling Users", "delete", adUserDN(3))
	modify("Sales EMEA", "delete", adGroupDN("Sales EMEA North"))
	t.Cleanup(func() {
		modify("Calling Users", "add", adUserDN(3))
		modify("Sales EMEA", "add", adGroupDN("Sales EMEA North"))
		modify("Sales EMEA North", "delete", adUserDN(102))
	})
	must(t, admin.Del(goldap.NewDelRequest(leaver, nil)))

	got := map[string]licensing.DirectoryUser{}
	var removed []string
	next, full, err := src.Users(context.Background(), cp, func(u licensing.DirectoryUser) error {
		if u.Removed {
			removed = append(removed, u.ID)
		} else {
			got[u.Email] = u
		}
		return nil
	})
	must(t, err)
	if full {
		t.Error("the pass after the removals was a full pass")
	}
	if !slices.Equal(removed, []string{leaverID}) {
		t.Errorf("removed %q, want the deleted user's objectGUID %q", removed, leaverID)
	}
	tests := []struct {
		name       string
		i          int
		wantGroups []string
	}{
		{"a user removed from a template group is read again without it", 3, nil},
		{"a member of a nested group taken out of its parent loses the parent's groups", 20, []string{adGroupDN("Sales EMEA North")}},
		{"the user added to that nested group earlier loses them too", 102, []string{adGroupDN("Sales EMEA North")}},
		{"a member of the parent keeps its groups", 10, []string{adGroupDN("Sales EMEA"), adGroupDN("Calling Users")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := got[adKey(tt.i)]
			if !ok {
				t.Fatalf("%s was not read again; the pass emitted %v", adKey(tt.i), keys(got))
			}
			if !sameDNs(u.Groups, tt.wantGroups) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.wantGroups)
			}
		})
	}
	if again, _, _ := read(t, src, next); len(again) != 0 {
		t.Errorf("a pass after the removals emitted %v", keys(again))
	}
	return next
}

func TestSambaADGroupsBesideTheUsersOUCountWithoutGroupBaseDN(t *testing.T) {
	s := samba(t)
	core, logs := observer.New(zap.WarnLevel)
	// base_dn is OU=Staff, the groups are in OU=Groups beside it, and
	// group_base_dn is not set.
	src, err := Open(context.Background(), s.config(adStaff), zap.New(core), TemplateGroups("Softphone Users", "Softphone Retired"))
	must(t, err)
	defer src.Close()
	all, cp, _ := read(t, src, "")

	admin := s.admin(t)
	join := goldap.NewModifyRequest(adSiteGroupDN("Softphone Pilot"), nil)
	join.Add("member", []string{adUserDN(1992)})
	must(t, admin.Modify(join))
	t.Cleanup(func() {
		leave := goldap.NewModifyRequest(adSiteGroupDN("Softphone Pilot"), nil)
		leave.Delete("member", []string{adUserDN(1992)})
		must(t, admin.Modify(leave))
	})
	changed, _, full := read(t, src, cp)
	if full {
		t.Error("the pass after the join was a full pass")
	}
	// The pilot's other member is read again with s1992, through the
	// in-chain rule.
	if got, want := keys(changed), []string{adKey(1990), adKey(1992)}; !slices.Equal(got, want) {
		t.Errorf("the pass after the join emitted %v, want exactly %v", got, want)
	}

	pilot, users := adSiteGroupDN("Softphone Pilot"), adSiteGroupDN("Softphone Users")
	tests := []struct {
		name   string
		users  map[string]licensing.DirectoryUser
		i      int
		groups []string
	}{
		{"a direct member of a group beside the OU gets it", all, 1991, []string{users}},
		{"a member through a nested group gets the template group above it", all, 1990, []string{pilot, users}},
		{"a user added to the nested group is read again with the template group", changed, 1992, []string{pilot, users}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := tt.users[adKey(tt.i)]
			if !ok {
				t.Fatalf("%s was not read", adKey(tt.i))
			}
			if !sameDNs(u.Groups, tt.groups) {
				t.Errorf("groups = %q, want %q", u.Groups, tt.groups)
			}
		})
	}

	var warned []string
	for _, e := range logs.All() {
		if g, ok := e.ContextMap()["group"].(string); ok {
			warned = append(warned, g)
			if base := e.ContextMap()["group_base_dn"]; base != adDomain {
				t.Errorf("the warning names group_base_dn %q, want the domain %q", base, adDomain)
			}
		}
	}
	if want := []string{"Softphone Retired"}; !slices.Equal(warned, want) {
		t.Errorf("warned about template groups %q, want %q", warned, want)
	}
}
