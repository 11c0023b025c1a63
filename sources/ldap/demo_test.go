package ldap

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	licpass "github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

var updateDemo = flag.Bool("update-demo", false, "rewrite testdata/demo/ldap/directory.ldif from directory.csv")

// demoLDIF turns the repository's demo directory into AD-like entries, in
// the file's order, with each group a groupOfNames and memberOf on the user
// as AD keeps it. A DN-valued group in the file becomes a group of that CN.
func demoLDIF(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	must(t, err)
	var b strings.Builder
	entry := func(dn string, lines ...string) { fmt.Fprintf(&b, "dn: %s\n%s\n\n", dn, strings.Join(lines, "\n")) }
	entry(suffix, "objectClass: dcObject", "objectClass: organization", "o: Example", "dc: example")
	entry(people, "objectClass: organizationalUnit", "ou: people")
	entry(groups, "objectClass: organizationalUnit", "ou: groups")
	members := map[string][]string{}
	var order []string
	for _, r := range recs[1:] {
		id, email, name, phone, enabled, grps := r[0], r[1], r[2], r[3], r[4], r[5]
		dn := "uid=" + id + "," + people
		uac := "512"
		if enabled == "false" {
			uac = "514"
		}
		lines := []string{"objectClass: inetOrgPerson", "objectClass: user", "objectCategory: person", "uid: " + id,
			"cn: " + id, "sn: " + id, "displayName: " + name, "mail: " + email, "userAccountControl: " + uac}
		if phone != "" {
			lines = append(lines, "telephoneNumber: "+phone)
		}
		for _, g := range strings.Split(grps, ";") {
			if g == "" {
				continue
			}
			if cn, ok := strings.CutPrefix(g, "CN="); ok {
				g = strings.SplitN(cn, ",", 2)[0]
			}
			if _, seen := members[g]; !seen {
				order = append(order, g)
			}
			members[g] = append(members[g], dn)
			lines = append(lines, "memberOf: "+groupDN(g))
		}
		entry(dn, lines...)
	}
	for _, g := range order {
		lines := []string{"objectClass: groupOfNames", "objectClass: group", "cn: " + g}
		for _, m := range members[g] {
			lines = append(lines, "member: "+m)
		}
		entry(groupDN(g), lines...)
	}
	return b.String()
}

// demoPlan plans the demo org for src and returns report.csv.
func demoPlan(t *testing.T, cfg *config.Config, src licpass.Source) []byte {
	t.Helper()
	dir := t.TempDir()
	org, err := offline.Open(filepath.Join(dir, "org.db"), cfg.Target.Offline.Seed)
	must(t, err)
	defer org.Close()
	store, err := licpass.OpenStore(filepath.Join(dir, "state.db"))
	must(t, err)
	defer store.Close()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	res, err := licpass.Execute(context.Background(), licpass.Options{
		Policy: cfg.Policy(), Source: src, Target: org, Store: store, Mode: licpass.PlanOnly,
		SourceKey: "demo", ExactReportDir: filepath.Join(dir, "report"), Now: func() time.Time { return now }, RunID: "DEMO",
	})
	must(t, err)
	b, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
	must(t, err)
	return b
}

func TestTheDemoGivesTheSameReportThroughTheFileAndTheLDAPSource(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo")
	cfg, err := config.Load(filepath.Join(demo, "licensync.yaml"), config.Options{})
	must(t, err)
	fromFile := demoPlan(t, cfg, file.New(filepath.Join(demo, "directory.csv"), nil))

	ldif := demoLDIF(t, filepath.Join(demo, "directory.csv"))
	// scripts/ldap-demo loads the committed LDIF: it must say what the CSV says.
	ldifPath := filepath.Join(demo, "ldap", "directory.ldif")
	if *updateDemo {
		must(t, os.WriteFile(ldifPath, []byte(ldif), 0o644))
	}
	committed, err := os.ReadFile(ldifPath)
	must(t, err)
	if string(committed) != ldif {
		t.Fatalf("%s is out of date with directory.csv: go test ./sources/ldap -run TheDemo -update-demo", ldifPath)
	}
	s := startSlapd(t, ldif, options{})
	lc := s.config("ad", people)
	lc.Attributes.ID = "uid"
	src, err := Open(context.Background(), lc, zap.NewNop())
	must(t, err)
	defer src.Close()
	fromLDAP := demoPlan(t, cfg, src)

	if !bytes.Equal(fromFile, fromLDAP) {
		t.Fatalf("the reports differ\nfile:\n%s\nldap:\n%s", fromFile, fromLDAP)
	}
	if n := bytes.Count(fromLDAP, []byte("\n")); n != 35 {
		t.Fatalf("report has %d lines, want a header and 34 users", n)
	}
	for _, want := range []string{string(licensing.WouldProvision), string(licensing.CauseDisabled), string(licensing.CauseNumberClaimedTwice)} {
		if !bytes.Contains(fromLDAP, []byte(want)) {
			t.Errorf("the LDAP report has no %s", want)
		}
	}
}
