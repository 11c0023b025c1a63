package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Org is one entry of the orgs: list: a calling organisation with its own
// directory, templates and removal guard, licensed by one licensync.
type Org struct {
	// Name keys the organisation's state, reports, metrics and lease:
	// lower-case letters, digits and '-'.
	Name      string      `yaml:"name"`
	Source    Source      `yaml:"source"`
	Target    Target      `yaml:"target"`
	Templates []Template  `yaml:"templates"`
	Removals  Removals    `yaml:"removals"`
	Daemon    OrgSchedule `yaml:"daemon"`
}

// OrgSchedule is an organisation's own schedule; what it leaves out is the
// top-level daemon's.
type OrgSchedule struct {
	IncrementalEvery *Duration `yaml:"incremental_every"`
	FullAt           string    `yaml:"full_at"`
}

// OrgConfig is one organisation's whole configuration: the top-level
// settings with its own source, target, templates, removals, schedule,
// state store and report folder, so that everything written for one
// organisation takes it unchanged.
type OrgConfig struct {
	Name string
	*Config
}

// DefaultOrg names the organisation of the single-organisation form. An
// entry of orgs: with this name keeps the top-level state store (and its
// history), so a configuration can move to the list without losing it.
const DefaultOrg = "default"

// orgName is what an organisation's name may be: it becomes a folder, a
// PostgreSQL schema name and a metric label.
var orgName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// perOrg are the top-level settings an orgs: entry gives instead.
var perOrg = []string{"source", "target", "templates", "removals"}

// Orgs returns the organisations the configuration licenses, in the order
// of the file; the single-organisation form is one, named "default", whose
// configuration is c itself.
func (c *Config) Orgs() []OrgConfig {
	if len(c.orgs) == 0 {
		return []OrgConfig{{Name: DefaultOrg, Config: c}}
	}
	return c.orgs
}

// MultiOrg reports whether the configuration is in the orgs: form.
func (c *Config) MultiOrg() bool { return len(c.orgs) > 0 }

// FindOrg returns the organisation named name, or false.
func (c *Config) FindOrg(name string) (OrgConfig, bool) {
	for _, o := range c.Orgs() {
		if o.Name == name {
			return o, true
		}
	}
	return OrgConfig{}, false
}

// OrgNames lists the organisations' names, in the order of the file.
func (c *Config) OrgNames() []string {
	var names []string
	for _, o := range c.Orgs() {
		names = append(names, o.Name)
	}
	return names
}

// isPerOrg reports whether path is under a setting orgs: entries give
// instead of the top level.
func isPerOrg(path string) bool {
	for _, p := range perOrg {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// isOrgSchedule reports whether path is a schedule setting an orgs: entry
// may give over the top level's.
func isOrgSchedule(path string) bool {
	return path == "daemon.incremental_every" || path == "daemon.full_at"
}

// checkOrgs validates the orgs: list and builds each organisation's
// configuration; the top level's own errors about what the entries give
// instead are dropped by the caller.
func (c *Config) checkOrgs(e *Errors) {
	for _, p := range perOrg {
		if c.has(p) || c.hasUnder(p) {
			e.add(p, 0, "given at the top level and in orgs: give each organisation's %s in its orgs entry, or leave orgs out", p)
		}
	}
	seen := map[string]bool{}
	for i, o := range c.OrgList {
		p := fmt.Sprintf("orgs[%d]", i)
		switch {
		case o.Name == "":
			e.add(p+".name", 0, "required")
		case !orgName.MatchString(o.Name):
			e.add(p+".name", 0, "%q is not an organisation name (lower-case letters, digits and '-', up to 40, starting with a letter or digit)", o.Name)
		case seen[o.Name]:
			e.add(p+".name", 0, "%q is used by an earlier organisation", o.Name)
		}
		seen[o.Name] = true
		oc := c.orgConfig(i)
		sub := &Errors{File: e.File}
		oc.defaults()
		oc.validate(sub)
		for _, x := range sub.List {
			// The top level reports its own schedule's errors.
			if isPerOrg(x.Path) || (isOrgSchedule(x.Path) && oc.has(x.Path)) {
				x.Path = p + "." + x.Path
				e.List = append(e.List, x)
			}
		}
		c.orgs = append(c.orgs, OrgConfig{Name: o.Name, Config: oc})
	}
}

// hasUnder reports whether the file sets anything under path.
func (c *Config) hasUnder(path string) bool {
	for k := range c.given {
		if strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[") {
			return true
		}
	}
	return false
}

// orgConfig is the configuration of the i-th orgs entry before its paths
// are resolved: the top level's, with the entry's settings and the file's
// record of what it sets for them.
func (c *Config) orgConfig(i int) *Config {
	o := c.OrgList[i]
	oc := *c
	oc.OrgList, oc.orgs, oc.OrgName = nil, nil, o.Name
	oc.Source, oc.Target, oc.Templates, oc.Removals = o.Source, o.Target, o.Templates, o.Removals
	oc.Daemon = c.Daemon
	if o.Daemon.IncrementalEvery != nil {
		oc.Daemon.IncrementalEvery = o.Daemon.IncrementalEvery
	}
	if o.Daemon.FullAt != "" {
		oc.Daemon.FullAt = o.Daemon.FullAt
	}
	prefix := fmt.Sprintf("orgs[%d].", i)
	oc.given = map[string]bool{}
	for k, v := range c.given {
		switch {
		case strings.HasPrefix(k, prefix):
			oc.given[strings.TrimPrefix(k, prefix)] = v
		case !isPerOrg(k) && !isOrgSchedule(k) && !strings.HasPrefix(k, "orgs"):
			oc.given[k] = v
		}
	}
	if oc.Target.Kind == "offline" || oc.Target.Kind == "" {
		if oc.Target.Offline == nil {
			oc.Target.Offline = &OfflineTarget{}
		}
		if oc.Target.Offline.Path == "" {
			oc.Target.Offline.Path = filepath.Join("state", o.Name, "org.db")
		}
	}
	return &oc
}

// resolveOrgs gives each organisation its state store and report folder
// once the top level's paths are resolved: report_dir/<org>/; the
// organisation named default keeps the top-level state store, another
// one has <state folder>/<org>/licensync.db on SQLite and the schema
// org_<org> (with '-' written '_') on PostgreSQL.
func (c *Config) resolveOrgs() {
	for _, o := range c.orgs {
		oc := o.Config
		oc.State, oc.StatePassword = c.State, c.StatePassword
		oc.ReportDir = filepath.Join(c.ReportDir, o.Name)
		if o.Name != DefaultOrg {
			if c.StateIsPostgres() {
				oc.StateSchema = OrgSchema(o.Name)
			} else {
				oc.State = filepath.Join(filepath.Dir(c.State), o.Name, "licensync.db")
			}
		}
		oc.resolvePaths()
	}
}

// OrgSchema is the PostgreSQL schema of a named organisation's state.
func OrgSchema(name string) string { return "org_" + strings.ReplaceAll(name, "-", "_") }
