package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// OrgConsole is one organisation's console in the orgs form, built with
// Base /orgs/NAME and API /api/v1/orgs/NAME.
type OrgConsole struct {
	Name    string
	Console *Console
}

// Orgs serves the consoles of several organisations behind one listener:
// at / the list of organisations with each one's last pass, counts and
// leader (the same as JSON at /api/v1/orgs), each organisation's pages
// under /orgs/NAME/ and its API under /api/v1/orgs/NAME/.
type Orgs struct {
	orgs   []OrgConsole
	byName map[string]*Console
	// front checks access to the list and the shared files; every
	// organisation's console checks its own.
	front *Console
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// OrgRow is one organisation in the list: its name, where its console is,
// and its overview.
type OrgRow struct {
	Name     string   `json:"name"`
	Console  string   `json:"console"`
	API      string   `json:"api"`
	Overview Overview `json:"overview"`
	// Leader is the replica that leads the organisation ("" when no
	// replicas share the state store or none leads now).
	Leader string `json:"leader,omitempty"`
}

// OrgList is the list page's data and the answer of /api/v1/orgs.
type OrgList struct {
	Orgs []OrgRow  `json:"orgs"`
	Now  time.Time `json:"now"`
}

// NewOrgs serves orgs, in the order given; it needs at least one.
func NewOrgs(orgs []OrgConsole) (*Orgs, error) {
	if len(orgs) == 0 {
		return nil, fmt.Errorf("console: no organisation")
	}
	o := &Orgs{orgs: orgs, byName: map[string]*Console{}, front: orgs[0].Console}
	for _, oc := range orgs {
		o.byName[oc.Name] = oc.Console
	}
	// The list's own templates link to the list, not to one organisation.
	list := *o.front
	list.o.Base, list.o.API = "", ""
	if err := list.parseTemplates(); err != nil {
		return nil, err
	}
	t, err := template.New("orgs").Funcs(list.funcs()).ParseFS(assets, "templates/layout.html", "templates/orgs.html")
	if err != nil {
		return nil, fmt.Errorf("console: template orgs: %w", err)
	}
	list.pages["orgs"] = t
	o.pages = list.pages
	o.front = &list
	o.routes()
	return o, nil
}

func (o *Orgs) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", o.front.page("orgs", o.list))
	m.HandleFunc("GET /api/v1/{$}", o.front.api(o.list))
	m.HandleFunc("GET /api/v1/orgs", o.front.api(o.list))
	m.HandleFunc("/orgs/{org}/", func(w http.ResponseWriter, r *http.Request) {
		o.toOrg(w, r, "/orgs/"+r.PathValue("org"), "")
	})
	m.HandleFunc("/api/v1/orgs/{org}/", func(w http.ResponseWriter, r *http.Request) {
		o.toOrg(w, r, "/api/v1/orgs/"+r.PathValue("org"), "/api/v1")
	})
	m.HandleFunc("GET /orgs/{org}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := o.byName[r.PathValue("org")]; !ok {
			o.front.fail(w, r, http.StatusNotFound, o.unknown(r.PathValue("org")))
			return
		}
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		o.front.fail(w, r, http.StatusNotFound, "no such page")
	})
	o.mux = m
}

// ServeHTTP checks access, sets the security headers and serves; an
// organisation's own console checks its pages again with its settings.
func (o *Orgs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.front.guard(w, r) {
		o.mux.ServeHTTP(w, r)
	}
}

func (o *Orgs) unknown(name string) string {
	names := make([]string, len(o.orgs))
	for i, oc := range o.orgs {
		names[i] = oc.Name
	}
	return fmt.Sprintf("no organisation %q: one of %s", name, strings.Join(names, ", "))
}

// toOrg hands a request under prefix to the organisation's console, as if
// it had asked for root+the rest of the path.
func (o *Orgs) toOrg(w http.ResponseWriter, r *http.Request, prefix, root string) {
	c, ok := o.byName[r.PathValue("org")]
	if !ok {
		o.front.fail(w, r, http.StatusNotFound, o.unknown(r.PathValue("org")))
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = root + strings.TrimPrefix(r.URL.Path, prefix)
	// Names are [a-z0-9-]: the raw path begins with the same prefix.
	r2.URL.RawPath = ""
	if raw, ok := strings.CutPrefix(r.URL.RawPath, prefix); ok {
		r2.URL.RawPath = root + raw
	}
	c.ServeHTTP(w, r2)
}

// list is every organisation's overview.
func (o *Orgs) list(r *http.Request) (any, error) {
	l := OrgList{Now: o.front.o.Now()}
	for _, oc := range o.orgs {
		v, err := oc.Console.overview(r)
		if err != nil {
			return nil, fmt.Errorf("organisation %s: %w", oc.Name, err)
		}
		ov := v.(Overview)
		row := OrgRow{Name: oc.Name, Console: oc.Console.o.Base + "/", API: oc.Console.apiRoot() + "/", Overview: ov}
		for _, le := range ov.Leases {
			if le.Org == oc.Name && le.Live {
				row.Leader = le.Owner
			}
		}
		l.Orgs = append(l.Orgs, row)
	}
	return l, nil
}
