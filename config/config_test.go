package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `
state: state/x.db
source: {kind: file, file: {path: dir.csv}}
target: {kind: offline, offline: {path: org.db, seed: org}}
templates:
  - name: calling
    groups: [Calling Users]
    licenses:
      - {name: Webex Calling - Professional, subscription: SUB-1}
`

func env(m map[string]string) Options {
	return Options{LookupEnv: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func TestParseResolvesPathsAgainstTheConfigFolder(t *testing.T) {
	c, err := Parse("/etc/licensync/licensync.yaml", []byte(good), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "/etc/licensync/state/x.db" || c.Source.File.Path != "/etc/licensync/dir.csv" || c.Target.Offline.Seed != "/etc/licensync/org" {
		t.Fatalf("paths not resolved: %+v %+v %+v", c.State, c.Source.File, c.Target.Offline)
	}
	if c.ReportDir != "/etc/licensync/reports" || c.Removals.MaxFraction != 0.05 || c.Apply.BatchSize != 500 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseReportsEveryErrorWithItsPath(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"an unknown key names its path and the known keys", good + "colour: blue\n", []string{"colour (line 10): unknown key (known here: state"}},
		{"an unknown nested key names the full path", strings.Replace(good, "subscription: SUB-1", "subscripton: SUB-1", 1), []string{"templates[0].licenses[0].subscripton", "templates[0].licenses[0].subscription: required with name"}},
		{"a wrong type names the field", strings.Replace(good, "state: state/x.db", "state: [a, b]", 1), []string{"state (line 2): expected a single value"}},
		{"a bad source kind lists the kinds", strings.Replace(good, "kind: file", "kind: ftp", 1), []string{`source.kind: "ftp" is not a source`}},
		{"a bad region is named", good + "phone: {default_region: XX}\n", []string{`phone.default_region: "XX" is not a region code`}},
		{"no templates is an error", "source: {kind: file, file: {path: a.csv}}\n", []string{"templates: at least one template"}},
		{"a licence with id and name is ambiguous", strings.Replace(good, "{name: Webex", "{id: X, name: Webex", 1), []string{"templates[0].licenses[0]: give either id"}},
		{"a missing variable is named", strings.Replace(good, "dir.csv", `"${DIR_FILE}"`, 1), []string{"source.file.path (line 3): environment variable DIR_FILE is not set"}},
		{"a bad fraction is out of range", good + "removals: {max_fraction: 2}\n", []string{"removals.max_fraction: 2 is not a fraction"}},
		{"broken YAML says so", "state: [\n", []string{"not valid YAML"}},
		{"a file that is one value names the file as the path", "\n\n0", []string{`(file) (line 3): expected a mapping, found "0"`}},
		{"a file that is a list names the file as the path", "- state: x\n", []string{"(file) (line 1): expected a mapping, found a list"}},
		{"two problems are both reported", good + "colour: blue\nremovals: {max_fraction: -1}\n", []string{"colour", "removals.max_fraction"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/x/licensync.yaml", []byte(tc.yaml), env(nil))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%s", w, err)
				}
			}
		})
	}
}

func TestSecretsComeFromTheEnvironmentOrFilesAndNeverPrint(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type holder struct {
		A Secret `yaml:"a"`
		B Secret `yaml:"b"`
		C Secret `yaml:"c"`
	}
	var h holder
	errs := &Errors{}
	d := &decoder{errs: errs, dir: dir, lookup: env(map[string]string{"TOKEN": "s3cret-env"}).LookupEnv}
	node := mustNode(t, "a: ${TOKEN}\nb: file:pw\nc: file:/does/not/exist\n")
	d.decode("", node, reflectOf(&h))
	if h.A.Value() != "s3cret-env" || h.B.Value() != "s3cret-from-file" {
		t.Fatalf("secrets = %q %q", h.A.Value(), h.B.Value())
	}
	if len(errs.List) != 1 || !strings.Contains(errs.List[0].Error(), "c (line 3): cannot read the file") {
		t.Fatalf("errors = %v", errs.List)
	}
	out, _ := json.Marshal(h)
	if strings.Contains(string(out), "s3cret") || strings.Contains(h.A.String(), "s3cret") {
		t.Fatalf("a secret leaked: %s", out)
	}
}

func TestFileReferencesPreferTheCredentialsDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ldap"), []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	var s struct {
		P Secret `yaml:"p"`
	}
	d := &decoder{errs: &Errors{}, dir: "/nowhere", credDir: dir, lookup: env(nil).LookupEnv}
	d.decode("", mustNode(t, "p: file:ldap\n"), reflectOf(&s))
	if s.P.Value() != "pw" {
		t.Fatalf("got %q, errors %v", s.P.Value(), d.errs.List)
	}
}

func TestAFileReferenceToSomethingHugeFailsWithoutReadingItAll(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/dev/zero", big} {
		t.Run(target, func(t *testing.T) {
			var s struct {
				P Secret `yaml:"p"`
			}
			d := &decoder{errs: &Errors{}, dir: "/", lookup: env(nil).LookupEnv}
			d.decode("", mustNode(t, "p: file:"+target+"\n"), reflectOf(&s))
			if len(d.errs.List) != 1 || !strings.Contains(d.errs.List[0].Error(), "more than 1 MiB") || !strings.Contains(d.errs.List[0].Error(), "p") {
				t.Fatalf("want one error on p saying the file is too large, got %v", d.errs.List)
			}
			if s.P.Value() != "" {
				t.Fatalf("the secret took %d bytes", len(s.P.Value()))
			}
		})
	}
}

func TestTemplatesPreserveExistingLicencesUnlessToldOtherwise(t *testing.T) {
	tests := []struct {
		name    string
		extra   string
		replace bool
	}{
		{"a template without the setting preserves", "", false},
		{"preserve_existing true preserves", "    preserve_existing: true\n", false},
		{"preserve_existing false replaces", "    preserve_existing: false\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("/x/licensync.yaml", []byte(good+tc.extra+"removals: {acknowledge: true, max_fraction: 0.2}\n"), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			p := c.Policy()
			if p.Templates[0].ReplaceExisting != tc.replace {
				t.Fatalf("ReplaceExisting = %v, want %v", p.Templates[0].ReplaceExisting, tc.replace)
			}
			if !p.Removals.Acknowledge || p.Removals.MaxFraction != 0.2 {
				t.Fatalf("removals = %+v, want acknowledged at 0.2", p.Removals)
			}
		})
	}
}

func TestRemovalsAreNotAcknowledgedByDefault(t *testing.T) {
	c, err := Parse("/x/licensync.yaml", []byte(good), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Policy().Removals; r.Acknowledge || r.MaxFraction != 0.05 {
		t.Fatalf("default removals = %+v, want unacknowledged at 0.05", r)
	}
}

func TestATemplateWithBothContactCenterAgentKindsIsRefused(t *testing.T) {
	y := good + "      - {name: Contact Center Standard Agent, subscription: CC-1}\n      - {name: Contact Center Premium Agent, subscription: CC-1}\n"
	_, err := Parse("/x/licensync.yaml", []byte(y), env(nil))
	if err == nil || !strings.Contains(err.Error(), `templates[0].licenses: carries both "Contact Center Standard Agent" and "Contact Center Premium Agent"`) {
		t.Fatalf("err = %v, want the template refused for carrying both agent kinds", err)
	}
	one := good + "      - {name: Contact Center Premium Agent, subscription: CC-1}\n"
	if _, err := Parse("/x/licensync.yaml", []byte(one), env(nil)); err != nil {
		t.Fatalf("a template with one agent licence: %v", err)
	}
}

func TestPreserveExistingMustBeTrueOrFalse(t *testing.T) {
	_, err := Parse("/x/licensync.yaml", []byte(good+"    preserve_existing: maybe\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "templates[0].preserve_existing") {
		t.Fatalf("err = %v, want the field named", err)
	}
}
