package graph

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	licpass "github.com/licensync/licensync/pass"
)

func TestAUserWithoutAPersonIsLicensedInTheFirstDeltaPassAfterTheConnectorCreatesIt(t *testing.T) {
	f := demoFake(t, filepath.Join(demo, "directory.csv"))
	o := newOrg(t)
	src := o.graph(f.config())
	first, _ := o.mustPass(src, licpass.Apply)
	if first.Summary.Causes[string(licensing.CauseWebexUserNotFound)] != 1 {
		t.Fatalf("the first pass = %+v, want u21 without a Webex person", first.Summary)
	}

	// The directory connector creates u21's person; the tenant is unchanged.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(o.dir, "org.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')"); err != nil {
		t.Fatal(err)
	}
	healed, rep := o.mustPass(src, licpass.Apply)
	if healed.Run.Full || healed.Writes != 1 || len(rows(rep, "u21")) != 1 || !bytes.Contains(rep, []byte(",PROVISIONED,")) || healed.Summary.Users != 1 {
		t.Fatalf("the delta pass after the person appeared: full %v, %d writes, report:\n%s\nwant u21 alone, PROVISIONED", healed.Run.Full, healed.Writes, rep)
	}
	people, err := o.tgt.People(context.Background(), []string{"user21@corp.example"})
	if p := people["user21@corp.example"]; err != nil || p.PhoneNumber != "+12125550121" {
		t.Fatalf("u21's person after the pass = %+v, %v", p, err)
	}

	// A quiet delta pass still finds the failures that stand.
	quiet, rep := o.mustPass(src, licpass.PlanOnly)
	st, err := licpass.Check(context.Background(), o.store, quiet, time.Time{})
	if err != nil || st.Total != 15 || st.Pending != 0 || bytes.Count(rep, []byte("\n")) != 1 {
		t.Fatalf("check after a quiet delta plan = %+v, %v (report:\n%s); want the 15 standing failures", st, err, rep)
	}
}
