package ldap

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	licpass "github.com/licensync/licensync/pass"
)

func TestAUserWithoutAPersonIsLicensedInTheFirstIncrementalPassAfterTheConnectorCreatesIt(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo")
	cfg, err := config.Load(filepath.Join(demo, "licensync.yaml"), config.Options{})
	must(t, err)
	srv := startSlapd(t, demoLDIF(t, filepath.Join(demo, "directory.csv")), options{})
	lc := srv.config(DialectOpenLDAP, people)
	lc.Attributes.ID = "uid"
	lc.GroupBaseDN = groups
	src, err := Open(context.Background(), lc, zap.NewNop())
	must(t, err)
	defer src.Close()
	dir := t.TempDir()
	org, err := offline.Open(filepath.Join(dir, "org.db"), cfg.Target.Offline.Seed)
	must(t, err)
	defer org.Close()
	store, err := licpass.OpenStore(filepath.Join(dir, "state.db"))
	must(t, err)
	defer store.Close()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	pass := func(id string, at time.Time) (*licpass.Result, []byte) {
		t.Helper()
		res, err := licpass.Execute(context.Background(), licpass.Options{
			Policy: cfg.Policy(), Source: src, Target: org, Store: store, Mode: licpass.Apply,
			SourceKey: "ldap", ExactReportDir: filepath.Join(dir, id), Now: func() time.Time { return at }, RunID: id,
		})
		must(t, err)
		rep, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
		must(t, err)
		return res, rep
	}
	if first, _ := pass("RUN-1", t0); first.Summary.Causes[string(licensing.CauseWebexUserNotFound)] != 1 {
		t.Fatalf("the first pass = %+v, want u21 without a Webex person", first.Summary)
	}

	// The directory connector creates u21's person; the directory is unchanged.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "org.db"))
	must(t, err)
	defer db.Close()
	_, err = db.Exec("INSERT INTO people VALUES ('P-21', 'user21@corp.example', 'Demo User 21', '', '', '')")
	must(t, err)
	pages := src.Stats().Pages
	healed, rep := pass("RUN-2", t0.Add(5*time.Minute))
	if healed.Run.Full || healed.Writes != 1 || healed.Summary.Users != 1 ||
		!bytes.Contains(rep, []byte("\nu21,user21@corp.example,Demo User 21,+12125550121,+12125550121,PROVISIONED,")) {
		t.Fatalf("the incremental pass after the person appeared: full %v, %d writes, %d pages read, report:\n%s\nwant u21 alone, PROVISIONED",
			healed.Run.Full, healed.Writes, src.Stats().Pages-pages, rep)
	}
	people, err := org.People(context.Background(), []string{"user21@corp.example"})
	if p := people["user21@corp.example"]; err != nil || p.PhoneNumber != "+12125550121" {
		t.Fatalf("u21's person after the pass = %+v, %v", p, err)
	}
	if again, _ := pass("RUN-3", t0.Add(10*time.Minute)); again.Writes != 0 || again.Summary.Users != 0 {
		t.Fatalf("the next quiet pass = %+v, %d writes; want nobody", again.Summary, again.Writes)
	}
}
