package pass

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/licensync/licensync/licensing"
)

// Header is the report CSV's header, in column order.
var Header = []string{"source_id", "email", "display_name", "work_phone", "e164", "outcome", "cause", "detail", "location_id", "location_name", "licenses"}

// Summary counts a pass's outcomes and causes.
type Summary struct {
	Users    int            `json:"users"`
	Outcomes map[string]int `json:"outcomes"`
	Causes   map[string]int `json:"causes"`
	// Removals is how many users the pass removes (or would remove) a
	// licence from; Refusal, on a plan, says why run would refuse them.
	Removals int     `json:"removals,omitempty"`
	Refusal  string  `json:"refusal,omitempty"`
	Elapsed  float64 `json:"elapsed_seconds"`
}

func newSummary() Summary {
	return Summary{Outcomes: map[string]int{}, Causes: map[string]int{}}
}

func (s *Summary) add(r *Row) {
	s.Users++
	s.Outcomes[r.Outcome]++
	if r.Cause != "" {
		s.Causes[r.Cause]++
	}
}

// safeCell neutralises a directory value a spreadsheet would run as a
// formula (see licensing.FormulaCell) with a leading apostrophe. A strict
// E.164 number in a phone column stays as it is.
func safeCell(s string, phone bool) string {
	if licensing.FormulaCell(s, phone) {
		return "'" + s
	}
	return s
}

// phoneColumn reports whether Header[i] holds a phone number.
func phoneColumn(i int) bool { return Header[i] == "work_phone" || Header[i] == "e164" }

// CSVWriter writes report rows as spreadsheet-safe CSV.
type CSVWriter struct {
	w   *csv.Writer
	rec []string
}

// NewCSVWriter writes the header and returns a writer for rows.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	c := &CSVWriter{w: csv.NewWriter(w), rec: make([]string, len(Header))}
	return c, c.w.Write(Header)
}

// Write writes one row.
func (c *CSVWriter) Write(r *Row) error {
	for i, f := range r.fields() {
		c.rec[i] = safeCell(f.(string), phoneColumn(i))
	}
	return c.w.Write(c.rec)
}

// Flush flushes buffered rows.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// htmlRowCap bounds the rows the HTML page lists; the CSV has them all.
const htmlRowCap = 5000

// reportNames are the reports a pass writes, in the order they are put in
// place.
var reportNames = []string{"report.csv", "report.json", "report.html"}

// reportFiles writes a pass's three reports into a folder as rows arrive.
// Each is written under a temporary name beside its own and renamed into
// place only once complete, so a pass that fails or is killed midway never
// leaves an empty or partial report where the last complete one was.
type reportFiles struct {
	dir string
	run string
	// created is set when the pass made dir: a pass that fails removes
	// it again, empty.
	created bool
	// done is set once the reports are in place.
	done bool
	// note is the file in the work folder that tells the next pass where
	// this one wrote, in case it is killed.
	note       string
	csvFile    *os.File
	csvBuf     *bufio.Writer
	csv        *CSVWriter
	usersFile  *os.File
	usersBuf   *bufio.Writer
	enc        *json.Encoder
	n          int
	htmlRows   []Row
	htmlCapped int
}

// tmpName is the temporary name a report has until it is complete.
func tmpName(dir, name, run string) string {
	return filepath.Join(dir, "."+name+"."+run+".tmp")
}

// newReportFiles starts the reports of pass run in dir, spilling the rows
// report.json needs into work. Whatever it returns must be closed.
func newReportFiles(dir, work, run string) (r *reportFiles, err error) {
	r = &reportFiles{dir: dir, run: run}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		r.created = true
	}
	// The note comes first, so that whatever a killed pass left in dir is
	// found by the next one.
	if r.note, err = writeNote(work, reportNote{Dir: dir, Run: run, Created: r.created}); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.csvFile, err = os.Create(tmpName(dir, "report.csv", run)); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r.csvBuf = bufio.NewWriterSize(r.csvFile, 1<<16)
	if r.csv, err = NewCSVWriter(r.csvBuf); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.usersFile, err = os.CreateTemp(work, "licensync-users-*"); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r.usersBuf = bufio.NewWriterSize(r.usersFile, 1<<16)
	r.enc = json.NewEncoder(r.usersBuf)
	r.enc.SetEscapeHTML(false)
	return r, nil
}

func (r *reportFiles) add(row *Row) error {
	if err := r.csv.Write(row); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if r.n > 0 {
		r.usersBuf.WriteString(",")
	}
	r.n++
	if err := r.enc.Encode(row); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if row.Outcome != string(licensing.Provisioned) && row.Outcome != string(licensing.AlreadyProvisioned) && row.Outcome != string(licensing.WouldProvision) {
		if len(r.htmlRows) < htmlRowCap {
			r.htmlRows = append(r.htmlRows, *row)
		} else {
			r.htmlCapped++
		}
	}
	return nil
}

// finish completes report.csv, writes report.json and report.html, and
// puts the three in place.
func (r *reportFiles) finish(run RunInfo, sum Summary) error {
	if err := r.csv.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := r.csvBuf.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err := r.csvFile.Close()
	r.csvFile = nil
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := r.usersBuf.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeJSON(tmpName(r.dir, "report.json", r.run), run, sum, r.usersFile); err != nil {
		return err
	}
	if err := writeTo(tmpName(r.dir, "report.html", r.run), func(w io.Writer) error {
		return WriteHTML(w, run, sum, r.htmlRows, r.htmlCapped)
	}); err != nil {
		return err
	}
	for _, name := range reportNames {
		if err := os.Rename(tmpName(r.dir, name, r.run), filepath.Join(r.dir, name)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	r.done = true
	return nil
}

// close releases the files. Unless the reports were put in place, it
// removes what the pass wrote, and the folder if the pass made it, so a
// failed pass leaves nothing behind.
func (r *reportFiles) close() {
	if r.csvFile != nil {
		r.csvFile.Close()
	}
	if r.usersFile != nil {
		r.usersFile.Close()
		os.Remove(r.usersFile.Name())
	}
	if !r.done {
		removeReportTemps(reportNote{Dir: r.dir, Run: r.run, Created: r.created})
	}
	if r.note != "" {
		os.Remove(r.note)
	}
}

// writeTo writes a new file at path.
func writeTo(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func writeJSON(path string, run RunInfo, sum Summary, users *os.File) error {
	return writeTo(path, func(w io.Writer) error {
		head, _ := json.Marshal(run)
		s, _ := json.Marshal(sum)
		fmt.Fprintf(w, "{\"run\":%s,\"summary\":%s,\"users\":[", head, s)
		if _, err := users.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(w, users); err != nil {
			return err
		}
		_, err := io.WriteString(w, "]}\n")
		return err
	})
}

// WriteJSON writes a report of rows as {"run", "summary", "users"}.
func WriteJSON(w io.Writer, run RunInfo, sum Summary, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Run     RunInfo `json:"run"`
		Summary Summary `json:"summary"`
		Users   []Row   `json:"users"`
	}{run, sum, rows})
}

type causeLine struct {
	Cause string
	Count int
	Fix   string
	// Width is the bar's share of the widest bar, in percent.
	Width int
}

var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>licensync report {{.Run.ID}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.n{text-align:right}.bar{background:#c0392b;height:12px;display:inline-block}
.counts td{border:0}.fix{color:#555}input{font-size:14px;padding:4px;width:24em;margin:1em 0}
</style></head><body>
<h1>licensync {{.Run.Mode}} {{.Run.ID}}</h1>
<p>Started {{.Run.Started.Format "2006-01-02 15:04:05 MST"}}{{if .Run.Full}}, full pass{{else}}, incremental pass{{end}}, status {{.Run.Status}}. {{.Sum.Users}} users.</p>
{{if .Sum.Refusal}}<p style="color:#c0392b"><strong>{{.Sum.Refusal}}</strong></p>{{else if .Sum.Removals}}<p>{{.Sum.Removals}} user(s) lose a licence in this pass; each row's detail says which.</p>{{end}}<h2>Outcomes</h2>
<table class="counts">{{range .Outcomes}}<tr><td>{{.Cause}}</td><td class="n">{{.Count}}</td></tr>{{end}}</table>
<h2>Causes and fixes</h2>
<table><tr><th>cause</th><th class="n">users</th><th></th><th>fix</th></tr>
{{range .Causes}}<tr><td>{{.Cause}}</td><td class="n">{{.Count}}</td><td style="width:20%"><span class="bar" style="width:{{.Width}}%"></span></td><td class="fix">{{.Fix}}</td></tr>
{{end}}</table>
<h2>Users not provisioned</h2>
<input id="q" placeholder="filter: type a cause, a name, a number" oninput="f()">
{{if .Capped}}<p>Showing the first {{len .Rows}} users; {{.Capped}} more are in report.csv.</p>{{end}}
<table id="t"><thead><tr><th>user</th><th>email</th><th>work phone</th><th>outcome</th><th>cause</th><th>detail</th><th>location</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{.DisplayName}}<br><small>{{.SourceID}}</small></td><td>{{.Email}}</td><td>{{.WorkPhone}}</td><td>{{.Outcome}}</td><td>{{.Cause}}</td><td>{{.Detail}}</td><td>{{.LocationName}}</td></tr>
{{end}}</tbody></table>
<script>function f(){var q=document.getElementById('q').value.toLowerCase();for(const r of document.querySelectorAll('#t tbody tr')){r.style.display=r.textContent.toLowerCase().includes(q)?'':'none'}}</script>
</body></html>
`))

// WriteHTML writes one self-contained page: counts per outcome, each cause
// with its count, a bar and its fix, and a filterable table of the users that
// were not provisioned. Every directory value is escaped.
func WriteHTML(w io.Writer, run RunInfo, sum Summary, rows []Row, capped int) error {
	var outcomes, causes []causeLine
	for _, o := range []licensing.Outcome{licensing.WouldProvision, licensing.Provisioned, licensing.AlreadyProvisioned, licensing.Drift, licensing.Skipped, licensing.Failed} {
		if n := sum.Outcomes[string(o)]; n > 0 {
			outcomes = append(outcomes, causeLine{Cause: string(o), Count: n})
		}
	}
	widest := 0
	for _, c := range licensing.Causes {
		widest = max(widest, sum.Causes[string(c)])
	}
	for _, c := range licensing.Causes {
		if n := sum.Causes[string(c)]; n > 0 {
			causes = append(causes, causeLine{Cause: string(c), Count: n, Fix: c.Fix(), Width: n * 100 / widest})
		}
	}
	sort.SliceStable(causes, func(i, j int) bool { return causes[i].Count > causes[j].Count })
	return page.Execute(w, map[string]any{"Run": run, "Sum": sum, "Outcomes": outcomes, "Causes": causes, "Rows": rows, "Capped": capped})
}

// publishLatest makes root/latest/ hold the reports in from. The new
// folder is made complete beside the old one and swapped in with two
// renames; a pass killed between them leaves latest.old-<run>, which the
// next pass puts back (sweepLatest). latest/ is never empty or partial.
func publishLatest(from, root, run string) error {
	latest := filepath.Join(root, "latest")
	tmp, old := latest+".tmp-"+run, latest+".old-"+run
	err := func() error {
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		for _, name := range reportNames {
			if err := linkOrCopy(filepath.Join(from, name), filepath.Join(tmp, name)); err != nil {
				return err
			}
		}
		if err := os.Rename(latest, old); err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := os.Rename(tmp, latest); err != nil {
			_ = os.Rename(old, latest)
			return err
		}
		return nil
	}()
	os.RemoveAll(tmp)
	if _, serr := os.Stat(latest); serr == nil {
		os.RemoveAll(old)
	}
	if err != nil {
		return fmt.Errorf("report: latest: %w", err)
	}
	return nil
}

// linkOrCopy gives the file from a second name to, by a hard link where the
// file system allows one.
func linkOrCopy(from, to string) error {
	if os.Link(from, to) == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func rowFor(u *licensing.DirectoryUser, d *licensing.Decision) Row {
	return Row{
		SourceID: u.ID, Email: u.Email, DisplayName: u.DisplayName, WorkPhone: u.WorkPhone, E164: d.E164,
		Outcome: string(d.Outcome), Cause: string(d.Cause), Detail: d.Detail,
		LocationID: d.LocationID, LocationName: d.LocationName, Licenses: joinIDs(d.Licences),
	}
}
