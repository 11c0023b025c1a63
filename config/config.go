package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"gopkg.in/yaml.v3"

	"github.com/licensync/licensync/licensing"
)

// Config is licensync's configuration.
type Config struct {
	// State is the state store (runs, per-user decisions, checkpoints): a
	// SQLite file path, or a postgres:// URL for replicas sharing one
	// PostgreSQL database. A password written in the URL is moved to
	// StatePassword when the file is loaded.
	State string `yaml:"state"`
	// StatePassword is the PostgreSQL password, when the URL, PGPASSWORD or
	// PGPASSFILE does not give it.
	StatePassword Secret `yaml:"state_password"`
	// ReportDir receives one folder of reports per pass, plus latest/.
	ReportDir string `yaml:"report_dir"`
	Phone     Phone  `yaml:"phone"`
	// ConsumerDomains replaces the built-in list of public mail domains.
	ConsumerDomains []string   `yaml:"consumer_domains"`
	Source          Source     `yaml:"source"`
	Target          Target     `yaml:"target"`
	Templates       []Template `yaml:"templates"`
	Removals        Removals   `yaml:"removals"`
	Apply           Apply      `yaml:"apply"`
	Daemon          Daemon     `yaml:"daemon"`
	// OrgList is the orgs: form, several organisations each with its own
	// source, target, templates and removals; Orgs gives them.
	OrgList []Org `yaml:"orgs"`

	// StateSchema is the PostgreSQL schema of an organisation's state in
	// the orgs: form; empty means the URL's own.
	StateSchema string `yaml:"-"`
	// OrgName keys the organisation's lease and metrics: its orgs: entry's
	// name, or DefaultOrg in the single-organisation form.
	OrgName string `yaml:"-"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`

	// given holds every field path the file sets to a value.
	given map[string]bool
	// orgs are the organisations of the orgs: form.
	orgs []OrgConfig
}

// has reports whether the file sets the field at path (like
// "removals.max_fraction") to a value: a setting whose zero means something
// keeps an explicit 0 and takes its default only when absent, and one whose
// zero means nothing refuses an explicit 0.
func (c *Config) has(path string) bool { return c.given[path] }

// Phone configures phone number parsing.
type Phone struct {
	// DefaultRegion lets numbers without '+' parse as national numbers of
	// this region (ISO 3166 code, "US"); empty means strict E.164.
	DefaultRegion string `yaml:"default_region"`
}

// Source selects and configures the directory.
type Source struct {
	Kind  string       `yaml:"kind"`
	File  *FileSource  `yaml:"file"`
	LDAP  *LDAPSource  `yaml:"ldap"`
	Graph *GraphSource `yaml:"graph"`
	Okta  *OktaSource  `yaml:"okta"`
}

// FileSource is a CSV export of the directory.
type FileSource struct {
	Path string `yaml:"path"`
}

// Target selects and configures the calling organisation.
type Target struct {
	Kind    string         `yaml:"kind"`
	Offline *OfflineTarget `yaml:"offline"`
	Webex   *WebexTarget   `yaml:"webex"`
}

// OfflineTarget is a calling organisation kept in a local SQLite file.
type OfflineTarget struct {
	Path string `yaml:"path"`
	// Seed is a folder of CSVs loaded when the database is new.
	Seed string `yaml:"seed"`
}

// Template is a calling licence template.
type Template struct {
	Name     string       `yaml:"name"`
	Groups   []string     `yaml:"groups"`
	Licenses []LicenceRef `yaml:"licenses"`
	// PreserveExisting (default true) keeps every licence a user holds.
	// False removes, in the same request, what the user holds in the
	// categories the template carries and the template does not; that is a
	// removal, so removals.acknowledge must allow it.
	PreserveExisting *bool `yaml:"preserve_existing"`
}

// Preserves reports whether the template keeps the licences users hold.
func (t Template) Preserves() bool { return t.PreserveExisting == nil || *t.PreserveExisting }

// LicenceRef names a licence by id, or by name within a subscription.
type LicenceRef struct {
	ID           string `yaml:"id"`
	Name         string `yaml:"name"`
	Subscription string `yaml:"subscription"`
}

// Removals guards destructive changes: removing a Calling licence deletes a
// user's voicemail, number and call settings for good.
type Removals struct {
	// Acknowledge must be true for any licence to be removed: by a template
	// with preserve_existing: false, a subscription move or a Contact
	// Center agent swap.
	Acknowledge bool `yaml:"acknowledge"`
	// MaxFraction is the largest share of a pass's users that may lose a
	// licence; over it the pass stops before any write. Absent means 0.05;
	// an explicit 0 allows no removal at all.
	MaxFraction float64 `yaml:"max_fraction"`
}

// Apply tunes how decisions are applied.
type Apply struct {
	// BatchSize is how many users are looked up and applied together.
	BatchSize int `yaml:"batch_size"`
}

// Options change how Load reads a file, for tests.
type Options struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load reads, expands and validates the configuration at path.
func Load(path string, opt Options) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, opt)
}

// Parse reads the configuration in data as if loaded from path.
func Parse(path string, data []byte, opt Options) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	errs := &Errors{File: path}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "yaml: ")
		errs.add("(file)", 0, "not valid YAML: %s", msg)
		return nil, errs
	}
	lookup := opt.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	credDir, _ := lookup("CREDENTIALS_DIRECTORY")
	d := &decoder{errs: errs, dir: filepath.Dir(abs), lookup: lookup, credDir: credDir, given: map[string]bool{}}
	c := &Config{File: abs, given: d.given, OrgName: DefaultOrg}
	if len(doc.Content) == 1 {
		d.decode("", doc.Content[0], reflect.ValueOf(c).Elem())
	} else {
		errs.add("(file)", 0, "the file is empty")
	}
	if d.stopped {
		// What was decoded is a fragment: validating it would only add
		// errors about what was never read.
		return nil, errs
	}
	c.defaults()
	if c.has("orgs") {
		top := &Errors{File: errs.File}
		c.validate(top)
		for _, x := range top.List {
			if !isPerOrg(x.Path) {
				errs.List = append(errs.List, x)
			}
		}
		if len(c.OrgList) == 0 {
			errs.add("orgs", 0, "lists no organisation: list at least one, or leave orgs out for one organisation")
		}
		c.checkOrgs(errs)
	} else {
		c.validate(errs)
	}
	if len(errs.List) > 0 {
		return nil, errs
	}
	if c.MultiOrg() {
		c.State = c.resolveState()
		c.ReportDir = c.Abs(c.ReportDir)
		c.resolveOrgs()
		return c, nil
	}
	c.resolvePaths()
	return c, nil
}

func (c *Config) defaults() {
	if c.State == "" {
		c.State = "state/licensync.db"
	}
	if c.ReportDir == "" {
		c.ReportDir = "reports"
	}
	if c.Source.Kind == "" {
		c.Source.Kind = "file"
	}
	if c.Target.Kind == "" {
		c.Target.Kind = "offline"
	}
	if c.Target.Kind == "offline" && c.Target.Offline == nil {
		c.Target.Offline = &OfflineTarget{}
	}
	if o := c.Target.Offline; o != nil && o.Path == "" {
		o.Path = "state/org.db"
	}
	if !c.has("removals.max_fraction") {
		c.Removals.MaxFraction = DefaultMaxFraction
	}
	if !c.has("apply.batch_size") {
		c.Apply.BatchSize = DefaultBatchSize
	}
}

// The defaults of settings a file leaves out.
const (
	// DefaultMaxFraction is removals.max_fraction when absent; an explicit
	// 0 allows no removal at all.
	DefaultMaxFraction = 0.05
	// DefaultBatchSize is apply.batch_size when absent; an explicit 0 is
	// refused.
	DefaultBatchSize = 500
)

// kind is what a source or target kind adds to loading: its validation and
// the resolution of its relative paths. Each kind registers itself from its
// own file, so adding one touches only that file and one struct field.
type kind struct {
	validate func(c *Config, e *Errors)
	resolve  func(c *Config)
}

var (
	sourceKinds = map[string]kind{}
	targetKinds = map[string]kind{}
)

func kindNames(m map[string]kind) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func init() {
	sourceKinds["file"] = kind{
		validate: func(c *Config, e *Errors) {
			if c.Source.File == nil || c.Source.File.Path == "" {
				e.add("source.file.path", 0, "required for source.kind file")
			}
		},
		resolve: func(c *Config) { c.Source.File.Path = c.Abs(c.Source.File.Path) },
	}
	targetKinds["offline"] = kind{
		validate: func(c *Config, e *Errors) {},
		resolve: func(c *Config) {
			c.Target.Offline.Path = c.Abs(c.Target.Offline.Path)
			c.Target.Offline.Seed = c.Abs(c.Target.Offline.Seed)
		},
	}
}

func (c *Config) validate(e *Errors) {
	if r := c.Phone.DefaultRegion; r != "" {
		if phonenumbers.GetCountryCodeForRegion(strings.ToUpper(r)) == 0 {
			e.add("phone.default_region", 0, "%q is not a region code (use an ISO 3166 code such as US, GB, DE)", r)
		}
	}
	if k, ok := sourceKinds[c.Source.Kind]; ok {
		k.validate(c, e)
	} else {
		e.add("source.kind", 0, "%q is not a source (one of: %s)", c.Source.Kind, kindNames(sourceKinds))
	}
	if k, ok := targetKinds[c.Target.Kind]; ok {
		k.validate(c, e)
	} else {
		e.add("target.kind", 0, "%q is not a target (one of: %s)", c.Target.Kind, kindNames(targetKinds))
	}
	if len(c.Templates) == 0 {
		e.add("templates", 0, "at least one template is required")
	}
	names := map[string]bool{}
	for i, t := range c.Templates {
		p := fmt.Sprintf("templates[%d]", i)
		if t.Name == "" {
			e.add(p+".name", 0, "required")
		} else if names[strings.ToLower(t.Name)] {
			e.add(p+".name", 0, "%q is used by an earlier template", t.Name)
		}
		names[strings.ToLower(t.Name)] = true
		if len(t.Licenses) == 0 {
			e.add(p+".licenses", 0, "at least one licence is required")
		}
		for j, l := range t.Licenses {
			lp := fmt.Sprintf("%s.licenses[%d]", p, j)
			switch {
			case l.ID == "" && l.Name == "":
				e.add(lp, 0, "give the licence's id, or its name and subscription")
			case l.ID != "" && (l.Name != "" || l.Subscription != ""):
				e.add(lp, 0, "give either id or name+subscription, not both")
			case l.Name != "" && l.Subscription == "":
				e.add(lp+".subscription", 0, "required with name: the same licence name exists in every subscription")
			}
		}
		agents := map[string]string{}
		for _, l := range t.Licenses {
			if k := licensing.AgentKindOfName(l.Name); k != "" {
				agents[k] = l.Name
			}
		}
		if len(agents) > 1 {
			e.add(p+".licenses", 0, "carries both %q and %q: a user has one Contact Center agent licence, Standard or Premium, never both", agents[licensing.AgentStandard], agents[licensing.AgentPremium])
		}
		for j, g := range t.Groups {
			if strings.TrimSpace(g) == "" {
				e.add(fmt.Sprintf("%s.groups[%d]", p, j), 0, "empty group name")
			}
		}
	}
	if f := c.Removals.MaxFraction; f < 0 || f > 1 {
		e.add("removals.max_fraction", 0, "%v is not a fraction between 0 and 1", f)
	}
	if c.Apply.BatchSize < 1 || c.Apply.BatchSize > 5000 {
		e.add("apply.batch_size", 0, "%d is out of range (1 to 5000; leave it out for %d)", c.Apply.BatchSize, DefaultBatchSize)
	}
	c.Daemon.check(c, e)
	c.checkState(e)
}

// Abs resolves p against the config file's folder.
func (c *Config) Abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

func (c *Config) resolveState() string {
	if c.StateIsPostgres() {
		return c.State
	}
	return c.Abs(c.State)
}

func (c *Config) resolvePaths() {
	c.State = c.resolveState()
	c.ReportDir = c.Abs(c.ReportDir)
	sourceKinds[c.Source.Kind].resolve(c)
	targetKinds[c.Target.Kind].resolve(c)
}
