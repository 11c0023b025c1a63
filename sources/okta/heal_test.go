package okta

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

func TestAUserWithoutAPersonIsLicensedInTheFirstIncrementalPassAfterTheConnectorCreatesIt(t *testing.T) {
	clk := newFakeClock()
	d := newDemoOrg(t)
	src := openFake(t, demoOkta(t, clk), Options{TemplateGroups: d.templateGroups()}, nil)
	clk.Advance(time.Hour)
	first, _, err := d.pass(src, licpass.Apply)
	must(t, err)
	if first.Summary.Causes[string(licensing.CauseWebexUserNotFound)] != 1 {
		t.Fatalf("the first pass = %+v, want u21 without a Webex person", first.Summary)
	}

	// The directory connector creates u21's person; Okta is unchanged.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(d.dir, "org.db"))
	must(t, err)
	defer db.Close()
	_, err = db.Exec("INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')")
	must(t, err)
	clk.Advance(5 * time.Minute)
	read := src.Stats().Users
	healed, rep, err := d.pass(src, licpass.Apply)
	must(t, err)
	if healed.Run.Full || healed.Writes != 1 || src.Stats().Users != read || healed.Summary.Users != 1 ||
		!bytes.Contains(rep, []byte("\nu21,user21@corp.example,Demo User 21,+12125550121,+12125550121,PROVISIONED,")) {
		t.Fatalf("the incremental pass after the person appeared: full %v, %d writes, %d users read from Okta, report:\n%s\nwant u21 alone, PROVISIONED, and nobody read",
			healed.Run.Full, healed.Writes, src.Stats().Users-read, rep)
	}
	people, err := d.org.People(context.Background(), []string{"user21@corp.example"})
	if p := people["user21@corp.example"]; err != nil || p.PhoneNumber != "+12125550121" {
		t.Fatalf("u21's person after the pass = %+v, %v", p, err)
	}
}
