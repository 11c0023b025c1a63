package offline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

func seedDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"locations.csv": "id,name,calling_enabled\nL1,New York,true\nLAB,Lab,false\n",
		"numbers.csv": "phone_number,extension,location_id,state,owner_type,owner_id\n" +
			"+12125550101,1001,L1,ACTIVE,,\n+12125550102,1002,L1,ACTIVE,place,WS-1\n+12125550103,1003,LAB,ACTIVE,,\n",
		"licenses.csv": "id,name,subscription_id,total_units,consumed_units,status\n" +
			"PRO,Webex Calling - Professional,SUB-1,2,1,active\nOLD,Webex Calling - Professional,SUB-2,5,0,EXPIRED\nMTG,Webex Meetings,SUB-1,9,0,ACTIVE\n",
		"people.csv": "id,email,display_name,licenses,phone_number,location_id\nP1,Ann@Corp.example,Ann,MTG,,\nP2,bob@corp.example,Bob,,,\n",
	}
	for k, v := range files {
		base[k] = v
	}
	for name, content := range base {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func open(t *testing.T, seed string) *Org {
	t.Helper()
	o, err := Open(filepath.Join(t.TempDir(), "org.db"), seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestSeedLoadsTheOrgAndNormalisesItsValues(t *testing.T) {
	o := open(t, seedDir(t, nil))
	ctx := context.Background()
	snap, err := o.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Locations) != 2 || !snap.Locations["L1"].CallingEnabled || snap.Locations["LAB"].CallingEnabled {
		t.Fatalf("locations = %+v", snap.Locations)
	}
	if n, _ := snap.Numbers.Get("+12125550102"); n.OwnerType != licensing.OwnerPlace || n.OwnerID != "WS-1" {
		t.Fatalf("number = %+v", n)
	}
	if l := snap.Licences["PRO"]; l.Status != licensing.StatusActive || l.Free() != 1 {
		t.Fatalf("licence = %+v", l)
	}
	people, err := o.People(ctx, []string{"ANN@corp.example", "nobody@corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := people["ann@corp.example"]; !ok || p.ID != "P1" || len(p.Licences) != 1 || len(people) != 1 {
		t.Fatalf("people = %+v", people)
	}
}

func TestApplyRefusesWhatTheServiceWouldRefuse(t *testing.T) {
	change := func(mod func(*licensing.Change)) licensing.Change {
		c := licensing.Change{PersonID: "P1", Licences: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101", Extension: "1001"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	tests := []struct {
		name  string
		c     licensing.Change
		cause licensing.Cause
	}{
		{"a number owned by a workspace is refused", change(func(c *licensing.Change) { c.PhoneNumber = "+12125550102" }), licensing.CauseNumberAssignedToOther},
		{"a number at a location without Calling is refused", change(func(c *licensing.Change) { c.PhoneNumber = "+12125550103"; c.LocationID = "LAB" }), licensing.CauseNumberLocationInvalid},
		{"a number at another location than asked is refused", change(func(c *licensing.Change) { c.LocationID = "LAB" }), licensing.CauseNumberLocationInvalid},
		{"a number outside the inventory is refused", change(func(c *licensing.Change) { c.PhoneNumber = "+12125550199" }), licensing.CauseNumberNotProvisioned},
		{"an expired subscription is refused", change(func(c *licensing.Change) { c.Licences = []string{"OLD"} }), licensing.CauseLicenceUnavailable},
		{"an unknown person is refused", change(func(c *licensing.Change) { c.PersonID = "P9" }), licensing.CauseWebexUserNotFound},
		{"Calling without a number is refused", change(func(c *licensing.Change) { c.PhoneNumber = "" }), licensing.CauseAPIError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := open(t, seedDir(t, nil))
			ctx := context.Background()
			errs, fatal := o.Apply(ctx, []licensing.Change{tc.c})
			var ae *licensing.ApplyError
			if fatal != nil || !errors.As(errs[0], &ae) || ae.Cause != tc.cause {
				t.Fatalf("errs = %v, fatal = %v; want cause %s", errs, fatal, tc.cause)
			}
			snap, _ := o.Snapshot(ctx)
			if n, _ := snap.Numbers.Get("+12125550101"); snap.Licences["PRO"].ConsumedUnits != 1 || n.OwnerID != "" {
				t.Fatal("a refused change left a partial write behind")
			}
			if n, _ := o.Writes(ctx); n != 0 {
				t.Fatalf("audit has %d writes after a refusal", n)
			}
		})
	}
}

func TestApplyUsesTheLastUnitOnceAndRefusesTheNext(t *testing.T) {
	o := open(t, seedDir(t, nil))
	ctx := context.Background()
	errs, _ := o.Apply(ctx, []licensing.Change{
		{PersonID: "P1", Licences: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101"},
		{PersonID: "P2", Licences: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101"},
	})
	if errs[0] != nil {
		t.Fatalf("first change: %v", errs[0])
	}
	var ae *licensing.ApplyError
	if !errors.As(errs[1], &ae) || ae.Cause != licensing.CauseLicenceUnavailable {
		t.Fatalf("second change: %v", errs[1])
	}
	people, _ := o.People(ctx, []string{"ann@corp.example"})
	p := people["ann@corp.example"]
	if p.PhoneNumber != "+12125550101" || p.LocationID != "L1" || strings.Join(p.Licences, ";") != "MTG;PRO" {
		t.Fatalf("person after apply = %+v", p)
	}
	snap, _ := o.Snapshot(ctx)
	if n, _ := snap.Numbers.Get("+12125550101"); n.OwnerType != licensing.OwnerPeople || n.OwnerID != "P1" {
		t.Fatalf("number after apply = %+v", n)
	}
	if snap.Licences["PRO"].ConsumedUnits != 2 {
		t.Fatalf("units = %+v", snap.Licences["PRO"])
	}
}

func TestABrokenSeedNamesTheFileAndLineAndLeavesNoDatabase(t *testing.T) {
	tests := []struct{ name, file, content, want string }{
		{"a bad unit count", "licenses.csv", "id,name,subscription_id,total_units,consumed_units,status\nPRO,Calling,SUB,ten,0,ACTIVE\n", "licenses.csv:2: total_units \"ten\" is not a whole number"},
		{"negative total units", "licenses.csv", "id,name,subscription_id,total_units,consumed_units,status\nPRO,Calling,SUB,-5,0,ACTIVE\n", "licenses.csv:2: total_units -5 is negative"},
		{"negative consumed units", "licenses.csv", "id,name,subscription_id,total_units,consumed_units,status\nMTG,Meetings,SUB,9,0,ACTIVE\nPRO,Calling,SUB,5,-1,ACTIVE\n", "licenses.csv:3: consumed_units -1 is negative"},
		{"more units consumed than exist", "licenses.csv", "id,name,subscription_id,total_units,consumed_units,status\nPRO,Calling,SUB,5,7,ACTIVE\n", "licenses.csv:2: consumed_units 7 is above total_units 5"},
		{"a bad status", "licenses.csv", "id,name,subscription_id,total_units,consumed_units,status\nPRO,Calling,SUB,1,0,PAUSED\n", "licenses.csv:2: status \"PAUSED\""},
		{"a number without plus", "numbers.csv", "phone_number,extension,location_id,state,owner_type,owner_id\n2125550101,1,L1,ACTIVE,,\n", "numbers.csv:2: phone_number \"2125550101\" is not E.164"},
		{"a number in no assigned range", "numbers.csv", "phone_number,extension,location_id,state,owner_type,owner_id\n+12125550101,1,L1,ACTIVE,,\n+12120550100,2,L1,ACTIVE,,\n", "numbers.csv:3: phone_number \"+12120550100\" is not a valid number: not a valid number for country code 1"},
		{"a number with spaces", "numbers.csv", "phone_number,extension,location_id,state,owner_type,owner_id\n+1 212 555 0101,1,L1,ACTIVE,,\n", "numbers.csv:2: phone_number \"+1 212 555 0101\" is not written in E.164: +12125550101"},
		{"an owner type without an id", "numbers.csv", "phone_number,extension,location_id,state,owner_type,owner_id\n+12125550101,1,L1,ACTIVE,PEOPLE,\n", "owner_type and owner_id go together"},
		{"a missing column", "locations.csv", "id,name\nL1,NY\n", "locations.csv: header lacks column calling_enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "org.db")
			_, err := Open(db, seedDir(t, map[string]string{tc.file: tc.content}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if _, statErr := os.Stat(db); !os.IsNotExist(statErr) {
				t.Fatal("a half-seeded database was left behind")
			}
		})
	}
}

// moveSeed adds a second Calling subscription, both Contact Center agent
// kinds, and Ann with Calling on +12125550101 from SUB-1.
func moveSeed(t *testing.T) string {
	return seedDir(t, map[string]string{
		"licenses.csv": "id,name,subscription_id,total_units,consumed_units,status\n" +
			"PRO,Webex Calling - Professional,SUB-1,2,1,active\nPRO-B,Webex Calling - Professional,SUB-B,1,0,ACTIVE\nFULL,Webex Calling - Professional,SUB-F,1,1,ACTIVE\n" +
			"MTG,Webex Meetings,SUB-1,9,1,ACTIVE\nSTD,Contact Center Standard Agent,CC,5,0,ACTIVE\nPRM,Contact Center Premium Agent,CC,5,1,ACTIVE\n",
		"numbers.csv": "phone_number,extension,location_id,state,owner_type,owner_id\n" +
			"+12125550101,1001,L1,ACTIVE,PEOPLE,P1\n+12125550102,1002,L1,ACTIVE,place,WS-1\n+12125550103,1003,LAB,ACTIVE,,\n",
		"people.csv": "id,email,display_name,licenses,phone_number,location_id\nP1,ann@corp.example,Ann,PRO;MTG;PRM,+12125550101,L1\nP2,bob@corp.example,Bob,,,\n",
	})
}

func TestApplyRemovesInTheSameTransactionAsItAdds(t *testing.T) {
	move := licensing.Change{PersonID: "P1", Licences: []string{"PRO-B"}, Remove: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101", Extension: "1001"}
	tests := []struct {
		name     string
		c        licensing.Change
		cause    licensing.Cause
		licences string
		phone    string
		units    map[string]int
	}{
		{name: "a move adds the new subscription's licence and removes the old one, keeping number and location",
			c: move, licences: "MTG;PRM;PRO-B", phone: "+12125550101", units: map[string]int{"PRO": 0, "PRO-B": 1}},
		{name: "a move to a subscription without free units changes nothing",
			c:     licensing.Change{PersonID: "P1", Licences: []string{"FULL"}, Remove: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101"},
			cause: licensing.CauseLicenceUnavailable, licences: "PRO;MTG;PRM", phone: "+12125550101", units: map[string]int{"PRO": 1, "FULL": 1}},
		{name: "adding a second Calling licence without removing the first is refused",
			c:     licensing.Change{PersonID: "P1", Licences: []string{"PRO-B"}, LocationID: "L1", PhoneNumber: "+12125550101"},
			cause: licensing.CauseAPIError, licences: "PRO;MTG;PRM", phone: "+12125550101", units: map[string]int{"PRO-B": 0}},
		{name: "an agent swap removes Premium and adds Standard together",
			c:        licensing.Change{PersonID: "P1", Licences: []string{"STD"}, Remove: []string{"PRM"}},
			licences: "PRO;MTG;STD", phone: "+12125550101", units: map[string]int{"STD": 1, "PRM": 0}},
		{name: "adding the other agent kind without removing the first is refused",
			c:     licensing.Change{PersonID: "P1", Licences: []string{"STD"}},
			cause: licensing.CauseAgentLicenceConflict, licences: "PRO;MTG;PRM", phone: "+12125550101", units: map[string]int{"STD": 0, "PRM": 1}},
		{name: "removing Calling alone frees the number",
			c:        licensing.Change{PersonID: "P1", Remove: []string{"PRO"}},
			licences: "MTG;PRM", phone: "", units: map[string]int{"PRO": 0}},
		{name: "removing only a licence the person no longer holds changes nothing and is refused",
			c:     licensing.Change{PersonID: "P1", Remove: []string{"PRO-B"}},
			cause: licensing.CauseAPIError, licences: "PRO;MTG;PRM", phone: "+12125550101", units: map[string]int{"PRO-B": 0, "PRO": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := open(t, moveSeed(t))
			ctx := context.Background()
			errs, fatal := o.Apply(ctx, []licensing.Change{tc.c})
			var ae *licensing.ApplyError
			switch {
			case fatal != nil:
				t.Fatal(fatal)
			case tc.cause == "" && errs[0] != nil:
				t.Fatalf("refused: %v", errs[0])
			case tc.cause != "" && (!errors.As(errs[0], &ae) || ae.Cause != tc.cause):
				t.Fatalf("err = %v, want cause %s", errs[0], tc.cause)
			}
			p := mustPerson(t, o, "ann@corp.example")
			if strings.Join(p.Licences, ";") != tc.licences || p.PhoneNumber != tc.phone {
				t.Errorf("person = %+v, want licences %s and phone %q", p, tc.licences, tc.phone)
			}
			if tc.phone != "" && p.LocationID != "L1" {
				t.Errorf("location = %q, want L1 kept", p.LocationID)
			}
			snap, _ := o.Snapshot(ctx)
			for id, want := range tc.units {
				if got := snap.Licences[id].ConsumedUnits; got != want {
					t.Errorf("%s consumed %d, want %d", id, got, want)
				}
			}
			n, _ := snap.Numbers.Get("+12125550101")
			owner := n.OwnerID
			if (tc.phone != "") != (owner == "P1") {
				t.Errorf("number owner = %q with the person's phone %q", owner, tc.phone)
			}
		})
	}
}

func mustPerson(t *testing.T, o *Org, email string) licensing.Person {
	t.Helper()
	people, err := o.People(context.Background(), []string{email})
	if err != nil {
		t.Fatal(err)
	}
	return people[email]
}

func TestHoldersListsThePeopleWithALicence(t *testing.T) {
	o := open(t, moveSeed(t))
	got, err := o.Holders(context.Background(), "PRO")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "P1" || got[0].PhoneNumber != "+12125550101" {
		t.Fatalf("holders of PRO = %+v, want Ann only", got)
	}
	if got, _ := o.Holders(context.Background(), "PR"); len(got) != 0 {
		t.Fatalf("a licence id prefix matched %+v", got)
	}
}

func TestAnOrgFromBeforeRemovalsGainsTheAuditColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "org.db")
	o, err := Open(path, seedDir(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.db.Exec("ALTER TABLE audit DROP COLUMN removed"); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o, err = Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	errs, _ := o.Apply(context.Background(), []licensing.Change{{PersonID: "P1", Remove: []string{"MTG"}}})
	if errs[0] != nil {
		t.Fatalf("apply after the migration: %v", errs[0])
	}
	var removed string
	if err := o.db.QueryRow("SELECT removed FROM audit").Scan(&removed); err != nil || removed != "MTG" {
		t.Fatalf("audit removed = %q, %v", removed, err)
	}
}

func TestAWorkspaceMoveSwapsItsLicenceAndKeepsItsNumber(t *testing.T) {
	seed := seedDir(t, map[string]string{
		"licenses.csv": "id,name,subscription_id,total_units,consumed_units,status\n" +
			"WS-A,Webex Calling - Workspaces,SUB-1,5,1,ACTIVE\nWS-B,Webex Calling - Workspaces,SUB-B,1,0,ACTIVE\nWS-FULL,Webex Calling - Workspaces,SUB-F,1,1,ACTIVE\n",
		"workspaces.csv": "id,name,licenses,phone_number,extension,location_id\nWS-1,Lobby,WS-A,+12125550102,1002,L1\n",
	})
	tests := []struct {
		name     string
		c        licensing.WorkspaceChange
		refused  bool
		licences string
		units    map[string]int
	}{
		{"a move swaps the licence in one transaction", licensing.WorkspaceChange{WorkspaceID: "WS-1", Licences: []string{"WS-B"}, Remove: []string{"WS-A"}},
			false, "WS-B", map[string]int{"WS-A": 0, "WS-B": 1}},
		{"a move onto a full subscription changes nothing", licensing.WorkspaceChange{WorkspaceID: "WS-1", Licences: []string{"WS-FULL"}, Remove: []string{"WS-A"}},
			true, "WS-A", map[string]int{"WS-A": 1, "WS-FULL": 1}},
		{"adding without removing the old licence is refused", licensing.WorkspaceChange{WorkspaceID: "WS-1", Licences: []string{"WS-B"}},
			true, "WS-A", map[string]int{"WS-A": 1, "WS-B": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := open(t, seed)
			ctx := context.Background()
			errs, fatal := o.ApplyWorkspaces(ctx, []licensing.WorkspaceChange{tc.c})
			if fatal != nil || (errs[0] != nil) != tc.refused {
				t.Fatalf("errs = %v, fatal = %v; refused want %v", errs, fatal, tc.refused)
			}
			ws, err := o.WorkspaceHolders(ctx, strings.Split(tc.licences, ";")[0])
			if err != nil || len(ws) != 1 || strings.Join(ws[0].Licences, ";") != tc.licences || ws[0].PhoneNumber != "+12125550102" || ws[0].Extension != "1002" || ws[0].LocationID != "L1" {
				t.Fatalf("workspace after = %+v, %v", ws, err)
			}
			snap, _ := o.Snapshot(ctx)
			for id, want := range tc.units {
				if got := snap.Licences[id].ConsumedUnits; got != want {
					t.Errorf("%s consumed %d, want %d", id, got, want)
				}
			}
		})
	}
}

func TestAChangeNotAttemptedBecauseThePassStoppedCarriesTheContextError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var tried []int
	errs, pass := applyEach(ctx, 3, func(i int) error {
		tried = append(tried, i)
		cancel() // the pass stops while the first change is applied
		return nil
	})
	if !errors.Is(pass, context.Canceled) {
		t.Fatalf("pass error = %v, want the context's", pass)
	}
	if len(tried) != 1 || errs[0] != nil {
		t.Fatalf("tried %v with errors %v, want the first change applied and nothing after it", tried, errs)
	}
	for i := 1; i < 3; i++ {
		if !errors.Is(errs[i], context.Canceled) {
			t.Errorf("change %d, never attempted: error %v, want the context's", i, errs[i])
		}
	}
}

func TestApplyAfterThePassStoppedReportsEveryChangeNotApplied(t *testing.T) {
	o := open(t, seedDir(t, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs, pass := o.Apply(ctx, []licensing.Change{
		{PersonID: "P1", Licences: []string{"MTG"}},
		{PersonID: "P2", Licences: []string{"MTG"}},
	})
	if pass == nil {
		t.Error("no pass error after the context ended")
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("change %d: error %v, want the context's (it was never attempted)", i, err)
		}
	}
	werrs, _ := o.ApplyWorkspaces(ctx, []licensing.WorkspaceChange{{WorkspaceID: "WS-1", Licences: []string{"PRO"}}})
	if !errors.Is(werrs[0], context.Canceled) {
		t.Errorf("workspace change: error %v, want the context's", werrs[0])
	}
	if n, err := o.Writes(context.Background()); err != nil || n != 0 {
		t.Errorf("writes = %d (%v), want 0", n, err)
	}
}
