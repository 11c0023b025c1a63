package controlhub

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// testOrg is an organisation with two active Calling subscriptions, a
// suspended one, Contact Center agents of both kinds and Meetings.
func testOrg() *licensing.Org {
	o := licensing.NewOrg()
	for _, l := range []licensing.Licence{
		{ID: "LIC-PRO", Name: "Webex Calling - Professional", SubscriptionID: "SUB-1", TotalUnits: 40, Status: licensing.StatusActive},
		{ID: "LIC-PRO2", Name: "Webex Calling - Professional", SubscriptionID: "SUB-2", TotalUnits: 40, Status: licensing.StatusActive},
		{ID: "LIC-OLD", Name: "Webex Calling - Professional", SubscriptionID: "SUB-OLD", TotalUnits: 10, ConsumedUnits: 1, Status: licensing.StatusSuspended},
		{ID: "LIC-CCS", Name: "Contact Center Standard Agent", SubscriptionID: "CC-1", TotalUnits: 10, ConsumedUnits: 1, Status: licensing.StatusActive},
		{ID: "LIC-CCP", Name: "Contact Center Premium Agent", SubscriptionID: "CC-1", TotalUnits: 10, Status: licensing.StatusActive},
		{ID: "LIC-MTG", Name: "Webex Meetings", SubscriptionID: "SUB-1", TotalUnits: 100, ConsumedUnits: 2, Status: licensing.StatusActive},
	} {
		o.Licences[l.ID] = l
	}
	o.Locations["LOC-NYC"] = licensing.Location{ID: "LOC-NYC", Name: "New York", CallingEnabled: true}
	o.Locations["LOC-HQ"] = licensing.Location{ID: "LOC-HQ", Name: "New York, HQ", CallingEnabled: true}
	for i := 1; i <= 6; i++ {
		loc := "LOC-NYC"
		if i == 2 {
			loc = "LOC-HQ"
		}
		e := fmt.Sprintf("+1212555010%d", i)
		o.Numbers.Set(licensing.Number{E164: e, Extension: fmt.Sprintf("100%d", i), LocationID: loc, State: "ACTIVE"})
	}
	return o
}

// scenario is one directory user with the person the target has for them.
type scenario struct {
	user   licensing.DirectoryUser
	person licensing.Person
}

func testPolicy() *licensing.Policy {
	return &licensing.Policy{
		Templates: []licensing.Template{
			{Name: "premium agents", Groups: []string{"Premium Agents"}, Licences: []licensing.LicenceRef{
				{Name: "Webex Calling - Professional", Subscription: "SUB-1"}, {Name: "Contact Center Premium Agent", Subscription: "CC-1"}}},
			{Name: "movers", Groups: []string{"Movers"}, Licences: []licensing.LicenceRef{{Name: "Webex Calling - Professional", Subscription: "SUB-2"}}},
			{Name: "calling", Licences: []licensing.LicenceRef{{Name: "Webex Calling - Professional", Subscription: "SUB-1"}}},
		},
		Removals: licensing.Removals{Acknowledge: true, MaxFraction: 1},
	}
}

func scenarios() []scenario {
	user := func(n int, groups ...string) licensing.DirectoryUser {
		return licensing.DirectoryUser{ID: fmt.Sprintf("u%d", n), Email: fmt.Sprintf("user%d@corp.example", n), DisplayName: fmt.Sprintf("User %d", n),
			WorkPhone: fmt.Sprintf("+1212555010%d", n), Enabled: true, Groups: groups}
	}
	person := func(n int, lics ...string) licensing.Person {
		return licensing.Person{ID: fmt.Sprintf("P-%d", n), Email: fmt.Sprintf("user%d@corp.example", n), Licences: lics}
	}
	held := func(s scenario) scenario {
		s.person.PhoneNumber, s.person.LocationID = s.user.WorkPhone, "LOC-NYC"
		if s.user.ID == "u2" {
			s.person.LocationID = "LOC-HQ"
		}
		return s
	}
	return []scenario{
		// A new Calling user.
		{user: user(1), person: person(1)},
		// A Calling user who becomes a Premium Agent, at a location with a comma.
		held(scenario{user: user(2, "Premium Agents"), person: person(2, "LIC-PRO", "LIC-MTG")}),
		// A Standard Agent swapped to Premium: a removal.
		held(scenario{user: user(3, "Premium Agents"), person: person(3, "LIC-PRO", "LIC-CCS")}),
		// A move from SUB-1 to SUB-2: a removal.
		held(scenario{user: user(4, "Movers"), person: person(4, "LIC-PRO")}),
		// A move out of a suspended subscription: never through the CSV.
		held(scenario{user: user(5), person: person(5, "LIC-OLD")}),
	}
}

// plan decides every scenario the way a pass does and returns the planned
// changes with the decisions.
func plan(t *testing.T, p *licensing.Policy, org *licensing.Org) ([]Planned, []licensing.Decision) {
	t.Helper()
	var out []Planned
	var ds []licensing.Decision
	for _, s := range scenarios() {
		sc := p.Screen(s.user)
		person := s.person
		d := p.Decide(sc, licensing.Facts{Person: &person, Claimants: 1}, org)
		if d.Outcome != licensing.WouldProvision || d.Change == nil {
			t.Fatalf("%s: decision %s %s %s, want WOULD_PROVISION", s.user.Email, d.Outcome, d.Cause, d.Detail)
		}
		out = append(out, Planned{Change: *d.Change, LocationName: d.LocationName, Holds: person.Licences})
		ds = append(ds, d)
	}
	return out, ds
}

func result(r *BulkResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rows %d, removing %d, import with %q\n", r.Rows, r.Removing, r.Mode)
	for _, l := range r.LeftOut {
		fmt.Fprintf(&b, "left out %s: %s\n", l.Email, l.Reason)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func TestExportBulkGolden(t *testing.T) {
	org := testOrg()
	planned, _ := plan(t, testPolicy(), org)
	for _, tc := range []struct {
		name  string
		allow bool
	}{{"bulk-add-only", false}, {"bulk-add-and-remove", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := WriteBulk(&buf, org, planned, BulkOptions{AllowRemovals: tc.allow})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".csv", buf.String())
			golden(t, tc.name+".txt", result(res))
		})
	}
}

func TestExportMarksTheImportMode(t *testing.T) {
	org := testOrg()
	planned, _ := plan(t, testPolicy(), org)
	tests := []struct {
		name     string
		plan     []Planned
		allow    bool
		mode     Mode
		rows     int
		removing int
	}{
		{"adds only: add services only", planned[:2], true, AddServicesOnly, 2, 0},
		{"removals not acknowledged: add services only, the removals left out", planned, false, AddServicesOnly, 2, 0},
		{"removals acknowledged: add and remove services", planned, true, AddAndRemoveServices, 4, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := WriteBulk(&bytes.Buffer{}, org, tc.plan, BulkOptions{AllowRemovals: tc.allow})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tc.mode || res.Rows != tc.rows || res.Removing != tc.removing {
				t.Fatalf("mode %q rows %d removing %d; want %q, %d, %d", res.Mode, res.Rows, res.Removing, tc.mode, tc.rows, tc.removing)
			}
		})
	}
}

// TestExportNeverWritesARemovingRowUnacknowledged is the safety rule: in
// an "Add and remove services" import a FALSE Calling column removes
// Calling and Standard and Premium Agent both FALSE remove Contact Center.
// Without acknowledged removals no such row may be in the file, whichever
// plan it comes from.
func TestExportNeverWritesARemovingRowUnacknowledged(t *testing.T) {
	org := testOrg()
	planned, _ := plan(t, testPolicy(), org)
	// Every subset of the plan, so no ordering or mix slips through.
	for mask := 1; mask < 1<<len(planned); mask++ {
		var sub []Planned
		for i := range planned {
			if mask&(1<<i) != 0 {
				sub = append(sub, planned[i])
			}
		}
		var buf bytes.Buffer
		res, err := WriteBulk(&buf, org, sub, BulkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(&buf, "bulk.csv")
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Users {
			u := &f.Users[i]
			var callingTrue, agentTrue, falses int
			for j, c := range u.Licences {
				l := f.Licences[j].Licence()
				switch {
				case c == False:
					falses++
				case c == True && l.IsCalling():
					callingTrue++
				case c == True && l.AgentKind() != "":
					agentTrue++
				}
			}
			if falses > 0 {
				t.Fatalf("subset %b: %s has %d FALSE cell(s) without acknowledged removals:\n%s", mask, u.Email, falses, buf.String())
			}
			if callingTrue != 1 {
				t.Fatalf("subset %b: %s has %d TRUE Calling columns, want 1", mask, u.Email, callingTrue)
			}
			if agentTrue > 1 {
				t.Fatalf("subset %b: %s would hold both agent kinds", mask, u.Email)
			}
		}
		if res.Mode != AddServicesOnly {
			t.Fatalf("subset %b: mode %q without acknowledged removals", mask, res.Mode)
		}
	}
}

func TestExportRowCheckRefusesRemovingCellsUnlessAcknowledged(t *testing.T) {
	org := testOrg()
	pro, pro2, ccs, ccp := org.Licences["LIC-PRO"], org.Licences["LIC-PRO2"], org.Licences["LIC-CCS"], org.Licences["LIC-CCP"]
	cols := []licensing.Licence{pro, pro2, ccs, ccp}
	tests := []struct {
		name  string
		cells []Cell
		allow bool
		want  string
	}{
		{"Calling FALSE removes Calling", []Cell{False, Empty, Empty, Empty}, false, "Calling column FALSE"},
		{"both agent columns FALSE remove Contact Center", []Cell{True, Empty, False, False}, false, "Contact Center agent columns FALSE"},
		{"a move writes one Calling column FALSE", []Cell{False, True, Empty, Empty}, false, "takes a licence away"},
		{"an agent swap writes one agent column FALSE", []Cell{True, Empty, False, True}, false, "takes a licence away"},
		{"acknowledged removals may write FALSE", []Cell{False, True, False, True}, true, ""},
		{"two Calling licences are refused even acknowledged", []Cell{True, True, Empty, Empty}, true, "two Calling licences"},
		{"both agent kinds are refused even acknowledged", []Cell{True, Empty, True, True}, true, "two Contact Center agent licences"},
		{"adds only pass", []Cell{True, Empty, Empty, True}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRow("a@corp.example", cols, tc.cells, tc.allow)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestExportLeavesOutWhatTheCSVCannotCarry(t *testing.T) {
	org := testOrg()
	tests := []struct {
		name string
		p    Planned
		want string
	}{
		{"a move out of a suspended subscription", Planned{Change: licensing.Change{Email: "a@corp.example", Licences: []string{"LIC-PRO"}, Remove: []string{"LIC-OLD"}}, Holds: []string{"LIC-OLD"}},
			"which is suspended: Control Hub's CSV import loses the user's Calling configuration"},
		{"an add from a suspended subscription", Planned{Change: licensing.Change{Email: "a@corp.example", Licences: []string{"LIC-OLD"}}},
			"Control Hub refuses a TRUE in a suspended service's column"},
		{"an add that ends with two Calling licences", Planned{Change: licensing.Change{Email: "a@corp.example", Licences: []string{"LIC-PRO2"}}, Holds: []string{"LIC-PRO"}},
			"two Calling licences"},
		{"an add that ends with both agent kinds", Planned{Change: licensing.Change{Email: "a@corp.example", Licences: []string{"LIC-CCP"}}, Holds: []string{"LIC-PRO", "LIC-CCS"}},
			"both Contact Center Standard and Premium Agent"},
		{"an email a spreadsheet would run as a formula", Planned{Change: licensing.Change{Email: "-2+3+cmd|' /C calc'!A0@corp.example", Licences: []string{"LIC-PRO"}}},
			"the email starts with '-': a spreadsheet would run the cell as a formula"},
		{"a location name a spreadsheet would run as a formula", Planned{Change: licensing.Change{Email: "a@corp.example", PhoneNumber: "+12125550101", Licences: []string{"LIC-PRO"}}, LocationName: "+1+cmd|' /C calc'!A0"},
			"the location starts with '+'"},
		{"a phone number that is not strict E.164", Planned{Change: licensing.Change{Email: "a@corp.example", PhoneNumber: "+1+cmd|' /C calc'!A0", Licences: []string{"LIC-PRO"}}},
			"the phone number starts with '+'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			res, err := WriteBulk(&buf, org, []Planned{tc.p}, BulkOptions{AllowRemovals: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != 0 || len(res.LeftOut) != 1 || !strings.Contains(res.LeftOut[0].Reason, tc.want) {
				t.Fatalf("rows %d, left out %+v; want the change left out saying %q", res.Rows, res.LeftOut, tc.want)
			}
			if strings.Count(buf.String(), "\n") != 1 {
				t.Fatalf("the file has user rows:\n%s", buf.String())
			}
		})
	}
	if _, err := WriteBulk(&bytes.Buffer{}, org, []Planned{{Change: licensing.Change{Email: "a@corp.example", Licences: []string{"LIC-NOPE"}}}}, BulkOptions{}); err == nil || !strings.Contains(err.Error(), `licence "LIC-NOPE"`) {
		t.Fatalf("an unknown licence: err = %v", err)
	}
}

func TestExportWarnsOverOneImport(t *testing.T) {
	org := testOrg()
	var p []Planned
	for i := range 4 {
		p = append(p, Planned{Change: licensing.Change{Email: fmt.Sprintf("u%d@corp.example", i), Licences: []string{"LIC-PRO"}, PhoneNumber: "+12125550101"}, LocationName: "New York"})
	}
	res, err := WriteBulk(&bytes.Buffer{}, org, p, BulkOptions{MaxRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "4 user rows, more than the 3 one Control Hub import takes") {
		t.Fatalf("warnings = %q", res.Warnings)
	}
	res, _ = WriteBulk(&bytes.Buffer{}, org, p, BulkOptions{})
	if len(res.Warnings) != 0 {
		t.Fatalf("4 rows under the %d limit warned: %q", MaxImportRows, res.Warnings)
	}
}

// TestRoundTripPlanExportParse plans with the real decision, exports the
// changes and parses the file back as Control Hub would read it: every
// user's email, number, extension, location and licence cells come back.
func TestRoundTripPlanExportParse(t *testing.T) {
	org := testOrg()
	planned, ds := plan(t, testPolicy(), org)
	var buf bytes.Buffer
	res, err := WriteBulk(&buf, org, planned, BulkOptions{AllowRemovals: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(bytes.NewReader(buf.Bytes()), "bulk.csv")
	if err != nil {
		t.Fatalf("the export does not parse: %v\n%s", err, buf.String())
	}
	if len(f.Users) != res.Rows || len(f.Licences) != len(res.Header)-len(BulkHeader) {
		t.Fatalf("parsed %d users and %d licence columns from a file of %d rows and header %q", len(f.Users), len(f.Licences), res.Rows, res.Header)
	}
	left := map[string]bool{}
	for _, l := range res.LeftOut {
		left[l.Email] = true
	}
	at := 0
	for i, p := range planned {
		c := p.Change
		if left[c.Email] {
			continue
		}
		u := f.Users[at]
		at++
		if u.Email != c.Email || u.PhoneNumber != c.PhoneNumber || u.Extension != c.Extension || u.Location != ds[i].LocationName {
			t.Fatalf("row %d came back as %+v; want %s %s %s %q", at, u, c.Email, c.PhoneNumber, c.Extension, ds[i].LocationName)
		}
		for j, col := range f.Licences {
			id := licenceFor(t, org, col)
			want := Empty
			switch {
			case slices.Contains(c.Remove, id):
				want = False
			case slices.Contains(c.Licences, id) || slices.Contains(p.Holds, id):
				want = True
			}
			if u.Licences[j] != want {
				t.Fatalf("%s: %s came back %q, want %q", c.Email, col.Header, u.Licences[j], want)
			}
		}
		if !f.HasCalling(&u) {
			t.Fatalf("%s: no TRUE Calling column after the round trip", c.Email)
		}
	}
	if at != len(f.Users) {
		t.Fatalf("%d rows checked of %d", at, len(f.Users))
	}
}

func licenceFor(t *testing.T, org *licensing.Org, c LicenceColumn) string {
	t.Helper()
	for id, l := range org.Licences {
		if l.Name == c.Name && l.SubscriptionID == c.Subscription {
			return id
		}
	}
	t.Fatalf("column %q names no licence of the organisation", c.Header)
	return ""
}
