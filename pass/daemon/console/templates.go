package console

import (
	"fmt"
	"html/template"
	"net/url"
	"path"
	"time"

	"github.com/licensync/licensync/licensing"
)

// pageNames are the pages, each a template beside the layout.
var pageNames = []string{"overview", "failures", "users", "user", "passes", "downloads", "error"}

// funcs are the functions the templates call.
func (c *Console) funcs() template.FuncMap {
	loc := c.o.Location
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":  func(now, t time.Time) string { return humanAge(now.Sub(t)) },
		"secs": humanSeconds,
		"userPath": func(id string) string {
			return c.o.Base + "/users/" + url.PathEscape(id)
		},
		"sortLabel": func(k string) string {
			return map[string]string{"email": "email", "name": "name", "number": "number", "outcome": "outcome and cause", "since": "failing since"}[k]
		},
		"stateClass": func(s licensing.CheckState) string {
			return map[licensing.CheckState]string{licensing.CheckPassed: "passed", licensing.CheckFailed: "failed", licensing.CheckNotReached: "unreached", licensing.CheckNotNeeded: "unneeded"}[s]
		},
		"outcomeNames": func() []licensing.Outcome { return outcomes },
		"base":         func() string { return c.o.Base },
		"api":          func() string { return c.apiRoot() },
		"orgName":      func() string { return path.Base(c.o.Base) },
	}
}

func (c *Console) parseTemplates() error {
	funcs := c.funcs()
	c.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}
