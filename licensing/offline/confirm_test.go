package offline

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// confirmSeed has Ann with Calling, Bob without, and a workspace.
func confirmSeed(t *testing.T) *Org {
	return open(t, seedDir(t, map[string]string{
		"licenses.csv": "id,name,subscription_id,total_units,consumed_units,status\n" +
			"PRO,Webex Calling - Professional,SUB-1,2,1,active\nWS-A,Webex Calling - Workspaces,SUB-1,5,1,ACTIVE\n",
		"numbers.csv":    "phone_number,extension,location_id,state,owner_type,owner_id\n+12125550101,1001,L1,ACTIVE,PEOPLE,P1\n+12125550103,1003,L1,ACTIVE,,\n",
		"workspaces.csv": "id,name,licenses,phone_number,extension,location_id\nWS-1,Lobby,WS-A,+12125550102,1002,L1\n",
		"people.csv":     "id,email,display_name,licenses,phone_number,location_id\nP1,ann@corp.example,Ann,PRO,+12125550101,L1\nP2,bob@corp.example,Bob,,,\n",
	}))
}

func TestAChangeThatWouldChangeNothingIsRefusedAndNotAudited(t *testing.T) {
	bob := licensing.Change{PersonID: "P2", Licences: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550103"}
	tests := []struct {
		name    string
		changes []licensing.Change
		// applied is how many of the changes, in front, are applied; the
		// last is refused with want.
		applied int
		want    string
	}{
		{"the same change applied twice", []licensing.Change{bob, bob}, 1, "nothing was changed: person P2 already holds PRO"},
		{"a licence the person already holds", []licensing.Change{{PersonID: "P1", Licences: []string{"PRO"}, LocationID: "L1", PhoneNumber: "+12125550101"}}, 0,
			"nothing was changed: person P1 already holds PRO"},
		{"a change that adds and removes nothing", []licensing.Change{{PersonID: "P1"}}, 0, "nothing was changed: the change for person P1 adds and removes nothing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := confirmSeed(t)
			ctx := context.Background()
			errs, fatal := o.Apply(ctx, tc.changes)
			if fatal != nil {
				t.Fatal(fatal)
			}
			for _, err := range errs[:tc.applied] {
				if err != nil {
					t.Fatalf("a change that changes something was refused: %v", err)
				}
			}
			var ae *licensing.ApplyError
			if last := errs[len(errs)-1]; !errors.As(last, &ae) || ae.Cause != licensing.CauseAPIError || !strings.Contains(ae.Detail, tc.want) {
				t.Fatalf("err = %v, want API_ERROR %q", last, tc.want)
			}
			if n, _ := o.Writes(ctx); n != tc.applied {
				t.Fatalf("%d writes audited, want %d", n, tc.applied)
			}
			if snap, _ := o.Snapshot(ctx); snap.Licences["PRO"].ConsumedUnits != 1+tc.applied {
				t.Fatalf("PRO consumed %d, want %d", snap.Licences["PRO"].ConsumedUnits, 1+tc.applied)
			}
		})
	}
}

func TestAWorkspaceChangeThatWouldChangeNothingIsRefused(t *testing.T) {
	o := confirmSeed(t)
	ctx := context.Background()
	errs, fatal := o.ApplyWorkspaces(ctx, []licensing.WorkspaceChange{{WorkspaceID: "WS-1", Licences: []string{"WS-A"}, Remove: []string{"WS-GONE"}}})
	var ae *licensing.ApplyError
	if fatal != nil || !errors.As(errs[0], &ae) || ae.Detail != "nothing was changed: workspace WS-1 already holds WS-A and holds none of WS-GONE to remove" {
		t.Fatalf("errs = %v, fatal = %v", errs, fatal)
	}
	if n, _ := o.Writes(ctx); n != 0 {
		t.Fatalf("%d writes audited, want 0", n)
	}
}
