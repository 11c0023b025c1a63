package config

import (
	"errors"
	"strings"
	"testing"
)

const twoOrgs = `
state: state/licensync.db
report_dir: out
daemon: {incremental_every: 10m, full_at: "03:00"}
orgs:
  - name: acme
    source: {kind: file, file: {path: acme.csv}}
    target: {kind: offline, offline: {seed: acme}}
    templates:
      - {name: calling, licenses: [{id: L1}]}
    removals: {max_fraction: 0}
    daemon: {incremental_every: 1m}
  - name: default
    source: {kind: file, file: {path: main.csv}}
    templates:
      - {name: calling, licenses: [{id: L2}]}
`

func TestTheOrgsFormGivesEachOrganisationItsOwnSettingsStateAndReports(t *testing.T) {
	c, err := Parse("/etc/licensync/licensync.yaml", []byte(twoOrgs), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	orgs := c.Orgs()
	if len(orgs) != 2 || orgs[0].Name != "acme" || orgs[1].Name != "default" || !c.MultiOrg() {
		t.Fatalf("orgs = %+v", c.OrgNames())
	}
	acme, def := orgs[0], orgs[1]
	for _, tc := range []struct{ what, got, want string }{
		{"acme's source", acme.Source.File.Path, "/etc/licensync/acme.csv"},
		{"acme's offline target", acme.Target.Offline.Path, "/etc/licensync/state/acme/org.db"},
		{"acme's seed", acme.Target.Offline.Seed, "/etc/licensync/acme"},
		{"acme's state", acme.State, "/etc/licensync/state/acme/licensync.db"},
		{"acme's reports", acme.ReportDir, "/etc/licensync/out/acme"},
		{"acme's template licence", acme.Templates[0].Licenses[0].ID, "L1"},
		{"default's source", def.Source.File.Path, "/etc/licensync/main.csv"},
		{"default's state (the top-level one)", def.State, "/etc/licensync/state/licensync.db"},
		{"default's reports", def.ReportDir, "/etc/licensync/out/default"},
		{"default's template licence", def.Templates[0].Licenses[0].ID, "L2"},
		{"default's offline target", def.Target.Offline.Path, "/etc/licensync/state/default/org.db"},
		{"acme's full pass (the top level's)", acme.Daemon.FullAt, "03:00"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	if acme.Daemon.Every().Minutes() != 1 || def.Daemon.Every().Minutes() != 10 {
		t.Errorf("schedules: acme every %s, default every %s; want 1m and the top level's 10m", acme.Daemon.Every(), def.Daemon.Every())
	}
	if acme.OrgName != "acme" || def.OrgName != DefaultOrg {
		t.Errorf("org names %q, %q", acme.OrgName, def.OrgName)
	}
	if acme.Removals.MaxFraction != 0 || def.Removals.MaxFraction != DefaultMaxFraction {
		t.Errorf("removals.max_fraction: acme %v (explicit 0), default %v (absent)", acme.Removals.MaxFraction, def.Removals.MaxFraction)
	}
	if o, ok := c.FindOrg("acme"); !ok || o.Config != acme.Config {
		t.Error("FindOrg(acme) does not find the entry")
	}
	if _, ok := c.FindOrg("nope"); ok {
		t.Error("Org finds an organisation that is not listed")
	}
}

func TestTheSingleFormIsOneOrganisationNamedDefault(t *testing.T) {
	c, err := Parse("/etc/licensync/licensync.yaml", []byte(good), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	orgs := c.Orgs()
	if len(orgs) != 1 || orgs[0].Name != DefaultOrg || orgs[0].Config != c || c.OrgName != DefaultOrg || c.MultiOrg() {
		t.Fatalf("orgs = %+v", orgs)
	}
	if c.ReportDir != "/etc/licensync/reports" {
		t.Errorf("report_dir moved to %s", c.ReportDir)
	}
}

func TestOnPostgreSQLEachOrganisationButDefaultHasASchema(t *testing.T) {
	cfg := strings.Replace(twoOrgs, "state: state/licensync.db", "state: postgres://ls@db:5432/licensync", 1)
	c, err := Parse("/etc/licensync/licensync.yaml", []byte(cfg), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	acme, def := c.Orgs()[0], c.Orgs()[1]
	if acme.State != "postgres://ls@db:5432/licensync" || acme.StateSchema != "org_acme" || def.StateSchema != "" {
		t.Fatalf("acme %q schema %q, default schema %q", acme.State, acme.StateSchema, def.StateSchema)
	}
}

func TestABadOrgsListIsRefusedNamingTheField(t *testing.T) {
	entry := func(name string) string {
		return "  - name: " + name + "\n    source: {kind: file, file: {path: a.csv}}\n    templates: [{name: t, licenses: [{id: L}]}]\n"
	}
	for _, tc := range []struct {
		name, yaml, path, msg string
	}{
		{"an upper-case name", "orgs:\n" + entry("Acme"), "orgs[0].name", "not an organisation name"},
		{"a name with a slash", "orgs:\n" + entry("a/b"), "orgs[0].name", "not an organisation name"},
		{"a name given twice", "orgs:\n" + entry("acme") + entry("acme"), "orgs[1].name", "used by an earlier organisation"},
		{"a missing name", "orgs:\n" + entry(`""`), "orgs[0].name", "required"},
		{"an entry without templates", "orgs:\n  - name: a\n    source: {kind: file, file: {path: a.csv}}\n", "orgs[0].templates", "at least one template"},
		{"an entry without a source file", "orgs:\n  - name: a\n    templates: [{name: t, licenses: [{id: L}]}]\n", "orgs[0].source.file.path", "required"},
		{"a bad schedule of one entry", "orgs:\n  - name: a\n    source: {kind: file, file: {path: a.csv}}\n    templates: [{name: t, licenses: [{id: L}]}]\n    daemon: {full_at: '25:00'}\n", "orgs[0].daemon.full_at", "not a time of day"},
		{"a top-level source beside orgs", "source: {kind: file, file: {path: x.csv}}\norgs:\n" + entry("a"), "source", "given at the top level and in orgs"},
		{"top-level templates beside orgs", "templates: [{name: t, licenses: [{id: L}]}]\norgs:\n" + entry("a"), "templates", "given at the top level and in orgs"},
		{"a bad top-level schedule beside orgs", "daemon: {full_at: '25:00'}\norgs:\n" + entry("a"), "daemon.full_at", "not a time of day"},
		{"an empty list", "orgs: []\n", "orgs", "lists no organisation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/licensync/licensync.yaml", []byte(tc.yaml), env(nil))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			for _, x := range errs.List {
				if x.Path == tc.path && strings.Contains(x.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("no error at %s saying %q in:\n%v", tc.path, tc.msg, err)
		})
	}
}
