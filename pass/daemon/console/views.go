package console

import (
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

// outcomes are the outcomes in the order the console lists them.
var outcomes = []licensing.Outcome{licensing.Provisioned, licensing.AlreadyProvisioned, licensing.WouldProvision, licensing.Drift, licensing.Skipped, licensing.Failed}

// keptPasses bounds how many passes the console reads: more than any
// keep_runs a site would set for charts to stay readable.
const keptPasses = 500

// Count is one figure of a breakdown.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Pass is one kept pass as the console shows it.
type Pass struct {
	ID      string    `json:"id"`
	Mode    string    `json:"mode"`
	Kind    string    `json:"kind"`
	Status  string    `json:"status"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Seconds is how long the pass took.
	Seconds  float64 `json:"seconds"`
	Users    int     `json:"users"`
	Outcomes []Count `json:"outcomes"`
	Causes   []Count `json:"causes"`
	// Traffic is what the pass sent to the source and to the target.
	Traffic map[string]pass.Traffic `json:"traffic,omitempty"`
	// Reports lists the report files kept for the pass (csv, json, html).
	Reports []string `json:"reports,omitempty"`
}

func passOf(r pass.RunInfo, traffic map[string]pass.Traffic) Pass {
	p := Pass{ID: r.ID, Mode: r.Mode, Kind: "incremental", Status: r.Status, Started: r.Started, Ended: r.Ended,
		Seconds: r.Summary.Elapsed, Users: r.Summary.Users, Traffic: traffic}
	if r.Full {
		p.Kind = "full"
	}
	for _, o := range outcomes {
		p.Outcomes = append(p.Outcomes, Count{string(o), r.Summary.Outcomes[string(o)]})
	}
	for _, c := range licensing.Causes {
		if n := r.Summary.Causes[string(c)]; n > 0 {
			p.Causes = append(p.Causes, Count{string(c), n})
		}
	}
	return p
}

// passesNewestFirst reads the kept passes with their traffic.
func (c *Console) passesNewestFirst(r *http.Request) ([]Pass, error) {
	runs, err := c.o.Store.Runs(r.Context(), keptPasses)
	if err != nil {
		return nil, err
	}
	traffic, err := c.o.Store.RunTraffic(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]Pass, len(runs))
	for i, run := range runs {
		out[i] = passOf(run, traffic[run.ID])
	}
	return out, nil
}

// Overview is the console's front page.
type Overview struct {
	Status
	// LastPass is the newest pass that ended; nil before the first.
	LastPass *Pass `json:"last_pass"`
	// Users is how many users the store holds; Failing how many of them
	// stand failed, and Oldest when the oldest of those failures began.
	Users   int       `json:"users"`
	Failing int       `json:"failing"`
	Oldest  time.Time `json:"oldest_failure,omitzero"`
	Now     time.Time `json:"now"`
	// Leases says which replica leads each organisation when replicas
	// share the state store.
	Leases []Lease `json:"leases,omitempty"`
}

// Lease is who leads one organisation, and whether it is this replica.
type Lease struct {
	pass.LeaseHolder
	ThisReplica bool `json:"this_replica"`
}

func (c *Console) overview(r *http.Request) (any, error) {
	ov := Overview{Status: c.o.Status(), Now: c.o.Now()}
	runs, err := c.o.Store.Runs(r.Context(), 20)
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		if run.Status != "running" {
			traffic, err := c.o.Store.RunTraffic(r.Context())
			if err != nil {
				return nil, err
			}
			p := passOf(run, traffic[run.ID])
			ov.LastPass = &p
			break
		}
	}
	st, err := c.o.Store.StandingFailures(r.Context())
	if err != nil {
		return nil, err
	}
	ov.Failing, ov.Oldest = st.Total, st.Oldest
	if _, ov.Users, err = c.o.Store.FindUsers(r.Context(), pass.UserQuery{Limit: 1}); err != nil {
		return nil, err
	}
	holders, err := c.o.Store.LeaseHolders(r.Context())
	if err != nil {
		return nil, err
	}
	for _, h := range holders {
		ov.Leases = append(ov.Leases, Lease{LeaseHolder: h, ThisReplica: h.Live && slices.Contains(ov.Leads, h.Org)})
	}
	return ov, nil
}

// Failure is one cause of the standing failures.
type Failure struct {
	pass.CauseCount
	Fix string `json:"fix"`
}

// Failures lists the standing failures by cause.
type Failures struct {
	Causes []Failure `json:"causes"`
	Now    time.Time `json:"now"`
	Total  int       `json:"total"`
}

func (c *Console) failures(r *http.Request) (any, error) {
	counts, err := c.o.Store.FailuresByCause(r.Context())
	if err != nil {
		return nil, err
	}
	f := Failures{Causes: []Failure{}, Now: c.o.Now()}
	for _, cc := range counts {
		f.Causes = append(f.Causes, Failure{CauseCount: cc, Fix: cc.Cause.Fix()})
		f.Total += cc.Users
	}
	return f, nil
}

// pageSize is how many users a page of the users view lists.
const pageSize = 50

// Users is one page of the users view.
type Users struct {
	Query  pass.UserQuery      `json:"query"`
	Users  []pass.StoredUser   `json:"users"`
	Total  int                 `json:"total"`
	Page   int                 `json:"page"`
	Pages  int                 `json:"pages"`
	First  int                 `json:"-"`
	Last   int                 `json:"-"`
	Prev   string              `json:"-"`
	Next   string              `json:"-"`
	Sorts  []string            `json:"-"`
	Causes []licensing.Cause   `json:"-"`
	Kinds  []licensing.Outcome `json:"-"`
	// Fix is the fix of the cause filtered on.
	Fix string    `json:"fix,omitempty"`
	Now time.Time `json:"-"`
}

// userQuery reads the users view's query string: q, outcome, cause,
// sort, desc, and page (pages) or offset and limit (the API).
func userQuery(r *http.Request) (pass.UserQuery, int, error) {
	v := r.URL.Query()
	q := pass.UserQuery{Search: v.Get("q"), Outcome: v.Get("outcome"), Cause: v.Get("cause"), Sort: v.Get("sort"), Limit: pageSize}
	if q.Outcome != "" && !slices.Contains(outcomes, licensing.Outcome(q.Outcome)) {
		return q, 0, badRequest("outcome %q is not one of %v", q.Outcome, outcomes)
	}
	if q.Cause != "" && !slices.Contains(licensing.Causes, licensing.Cause(q.Cause)) {
		return q, 0, badRequest("cause %q is not a licensync cause", q.Cause)
	}
	if _, ok := pass.SortKeys[q.Sort]; q.Sort != "" && !ok {
		return q, 0, badRequest("sort %q is not one of email, name, number, outcome, since", q.Sort)
	}
	if len(q.Search) > 200 {
		return q, 0, badRequest("the search is %d characters long; at most 200", len(q.Search))
	}
	q.Desc = v.Get("desc") == "1" || v.Get("desc") == "true"
	num := func(name string, min, def int) (int, error) {
		s := v.Get(name)
		if s == "" {
			return def, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min {
			return 0, badRequest("%s %q is not a whole number of at least %d", name, s, min)
		}
		return n, nil
	}
	page, err := num("page", 1, 1)
	if err != nil {
		return q, 0, err
	}
	q.Offset = (page - 1) * pageSize
	if isAPI(r) {
		if q.Offset, err = num("offset", 0, q.Offset); err != nil {
			return q, 0, err
		}
		if q.Limit, err = num("limit", 1, pageSize); err != nil {
			return q, 0, err
		}
		q.Limit = min(q.Limit, pass.MaxUserPage)
	}
	return q, page, nil
}

func (c *Console) users(r *http.Request) (any, error) {
	q, page, err := userQuery(r)
	if err != nil {
		return nil, err
	}
	found, total, err := c.o.Store.FindUsers(r.Context(), q)
	if err != nil {
		return nil, err
	}
	if found == nil {
		found = []pass.StoredUser{}
	}
	u := Users{Query: q, Users: found, Total: total, Page: page, Pages: max((total+pageSize-1)/pageSize, 1),
		Sorts: []string{"email", "name", "number", "outcome", "since"}, Causes: licensing.Causes, Kinds: outcomes, Now: c.o.Now()}
	if q.Cause != "" {
		u.Fix = licensing.Cause(q.Cause).Fix()
	}
	if total > 0 {
		u.First, u.Last = q.Offset+1, q.Offset+len(found)
	}
	link := func(p int) string {
		v := url.Values{}
		for k, s := range map[string]string{"q": q.Search, "outcome": q.Outcome, "cause": q.Cause, "sort": q.Sort} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.Desc {
			v.Set("desc", "1")
		}
		v.Set("page", strconv.Itoa(p))
		return c.o.Base + "/users?" + v.Encode()
	}
	if page > 1 {
		u.Prev = link(page - 1)
	}
	if page < u.Pages {
		u.Next = link(page + 1)
	}
	return u, nil
}

// User is one user's page.
type User struct {
	pass.StoredUser
	Fix     string         `json:"fix,omitempty"`
	History []pass.Decided `json:"history"`
	// CanCheck says whether "check now" is available.
	CanCheck bool `json:"can_check"`
	// Check is the result of "check now", on its page only.
	Check *CheckResult `json:"check,omitempty"`
	Now   time.Time    `json:"-"`
}

// historyShown bounds the history a user page lists.
const historyShown = 200

func (c *Console) loadUser(r *http.Request) (*User, error) {
	id := r.PathValue("id")
	su, err := c.o.Store.User(r.Context(), id)
	if errors.Is(err, pass.ErrUnknownUser) {
		return nil, notFound("the state store holds no user with id %q", id)
	}
	if err != nil {
		return nil, err
	}
	hist, err := c.o.Store.UserHistory(r.Context(), id, historyShown)
	if err != nil {
		return nil, err
	}
	if hist == nil {
		hist = []pass.Decided{}
	}
	u := &User{StoredUser: su, History: hist, CanCheck: c.o.Live != nil, Now: c.o.Now()}
	if su.Cause != "" {
		u.Fix = licensing.Cause(su.Cause).Fix()
	}
	return u, nil
}

func (c *Console) user(r *http.Request) (any, error) { return c.loadUser(r) }

// Downloads lists the reports of the kept passes and the newest plan
// exported as a Control Hub bulk-licence CSV.
type Downloads struct {
	Passes []Pass `json:"passes"`
	// Plan is the newest kept plan pass, whose report lists the changes
	// the plan would make; nil when none is kept.
	Plan *Pass `json:"plan,omitempty"`
	// Export is the newest kept plan pass that wrote a bulk-licence CSV;
	// nil when none is kept.
	Export *PlanExport `json:"export,omitempty"`
	// CanExport says whether the console may ask for a plan.
	CanExport bool `json:"can_export"`
	// Exporting is where the plan asked for stands (Status.Export), and
	// ExportError why the last one failed.
	Exporting   string     `json:"exporting,omitempty"`
	ExportError *SideError `json:"export_error,omitempty"`
	// Token is the form's CSRF token.
	Token string `json:"-"`
}

// PlanExport is a plan pass that wrote a Control Hub bulk-licence CSV.
type PlanExport struct {
	Pass
	// Rows is how many user rows the CSV holds.
	Rows int `json:"rows"`
	// Files are the export's files kept in the pass's report folder.
	Files []string `json:"files"`
}

// The files an exported plan leaves in its pass's report folder: the
// bulk-licence CSV and the notes for whoever imports it.
const (
	PlanExportFile  = "controlhub-bulk.csv"
	PlanExportNotes = "controlhub-bulk.import.txt"
)

// reportFiles are the files a pass's report folder holds, in the order
// the console offers them; exportFiles are those a plan export adds.
var (
	reportFiles = []string{"report.csv", "report.json", "report.html"}
	exportFiles = []string{PlanExportFile, PlanExportNotes}
)

func (c *Console) downloads(r *http.Request) (any, error) {
	passes, err := c.passesNewestFirst(r)
	if err != nil {
		return nil, err
	}
	st := c.o.Status()
	d := Downloads{Passes: []Pass{}, CanExport: c.o.ExportPlan != nil, Exporting: st.Export, ExportError: st.ExportError}
	d.Token, _ = r.Context().Value(csrfKey{}).(string)
	for _, p := range passes {
		p.Reports = c.keptReports(p.ID)
		if len(p.Reports) == 0 {
			continue
		}
		d.Passes = append(d.Passes, p)
		if p.Mode != string(pass.PlanOnly) {
			continue
		}
		if d.Plan == nil {
			plan := p
			d.Plan = &plan
		}
		if d.Export == nil {
			if files := c.kept(p.ID, exportFiles); slices.Contains(files, PlanExportFile) {
				rows, err := csvRows(filepath.Join(c.o.ReportDir(), p.ID, PlanExportFile))
				if err != nil {
					return nil, err
				}
				d.Export = &PlanExport{Pass: p, Rows: rows, Files: files}
			}
		}
	}
	return d, nil
}

// csvRows counts the records of a CSV file after its header.
func csvRows(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	n := 0
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return max(n-1, 0), nil
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		n++
	}
}

// Passes is the pass history with its charts.
type Passes struct {
	Passes []Pass          `json:"passes"`
	Charts []template.HTML `json:"-"`
}

func (c *Console) passes(r *http.Request) (any, error) {
	passes, err := c.passesNewestFirst(r)
	if err != nil {
		return nil, err
	}
	if passes == nil {
		passes = []Pass{}
	}
	p := Passes{Passes: passes}
	if !isAPI(r) {
		p.Charts = charts(passes, c.o.Location)
	}
	return p, nil
}

// APIIndex lists the API's endpoints.
type APIIndex struct {
	Endpoints []string `json:"endpoints"`
}

func (c *Console) apiIndex(*http.Request) (any, error) {
	var eps []string
	for _, e := range []string{
		"overview",
		"failures",
		"users?q=&outcome=&cause=&sort=email|name|number|outcome|since&desc=1&offset=&limit=",
		"users/{id}",
		"users/{id}/check",
		"passes",
		"passes/{id}/report.csv|report.json|report.html|controlhub-bulk.csv|controlhub-bulk.import.txt",
	} {
		eps = append(eps, "GET "+c.apiRoot()+"/"+e)
	}
	return APIIndex{Endpoints: eps}, nil
}

// humanAge writes a duration the way the help desk reads it.
func humanAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

// humanSeconds writes a pass duration.
func humanSeconds(s float64) string {
	if s < 60 {
		return strconv.FormatFloat(s, 'f', 2, 64) + " s"
	}
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	return strings.TrimSuffix(d.String(), "0s")
}
