package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/licensync/licensync/licensing"
)

// browserPath finds the Chromium the tests drive. scripts/test installs
// the Debian package when it is missing.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium to test the console in: install it (apt-get install chromium) or run scripts/test, which does")
	return ""
}

// cspWatch records every CSP violation the page reports; DevTools adds it
// before any of the page's own scripts run.
const cspWatch = `window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});`

// browser is a headless Chromium that records what a page reports as
// wrong: console errors and warnings, uncaught exceptions, error log
// entries, and CSP violations.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	bad []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath(t)), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				msg = "console." + string(e.Type) + ": " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Source == cdplog.EntrySourceSecurity || e.Entry.Source == cdplog.EntrySourceViolation {
				msg = "log " + string(e.Entry.Source) + ": " + e.Entry.Text
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.bad = append(b.bad, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs steps, then collects the CSP violations the page recorded.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
	violations, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.__violations || []`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	b.mu.Lock()
	b.bad = append(b.bad, violations...)
	b.mu.Unlock()
}

// value runs one action that returns a value.
func value[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// text is the text of the first element sel selects.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return value(t, b, chromedp.Text(chromedp.CSS(sel)))
}

// count is how many elements sel selects.
func (b *browser) count(t *testing.T, sel string) int {
	t.Helper()
	return value(t, b, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// problems returns what went wrong in the pages so far, and forgets it.
func (b *browser) problems() []string {
	// Events arrive asynchronously: give the last ones a moment.
	time.Sleep(200 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.bad
	b.bad = nil
	return out
}

func TestTheBrowserSeesAPageThatBreaksTheCSP(t *testing.T) {
	// The control for the console's test below: the same watch catches an
	// inline script and a console error when there are some.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
		fmt.Fprint(w, `<!DOCTYPE html><html lang="en"><head><title>t</title><link rel="icon" href="data:,"></head><body><p id="p">x</p><script>document.title = "ran";</script></body></html>`)
	}))
	defer srv.Close()
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS("#p")))
	title := value(t, b, chromedp.Title())
	value(t, b, chromedp.Evaluate[int](`console.error("boom"); 1`))
	got := strings.Join(b.problems(), "\n")
	if title == "ran" || !strings.Contains(got, "script-src") || !strings.Contains(got, "console.error") {
		t.Fatalf("title %q, problems:\n%s\nwant the inline script blocked and both the violation and the console error seen", title, got)
	}
}

func TestTheConsoleInARealBrowser(t *testing.T) {
	d := newDemo(t, nil)
	c, _ := d.exporting(t)
	srv := httptest.NewServer(c)
	defer srv.Close()
	b := newBrowser(t)
	ctx := t.Context()
	st, err := d.store.StandingFailures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run, err := d.store.Run(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the overview shows the demo's counts", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/"))
		if users := b.text(t, "#last-users"); users != "34" {
			t.Fatalf("users of the last pass: %q, want 34", users)
		}
		for _, o := range outcomes {
			n := b.text(t, fmt.Sprintf(`#last-outcomes tr[data-outcome=%q] td`, o))
			if want := fmt.Sprint(run.Summary.Outcomes[string(o)]); n != want {
				t.Errorf("%s: %q, want %s", o, n, want)
			}
		}
	})

	t.Run("the failures view lists every cause with its fix", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/failures"))
		if rows := b.count(t, "#causes tbody tr"); rows != len(st.Causes) || rows < 8 {
			t.Fatalf("%d causes listed, the demo has %d", rows, len(st.Causes))
		}
		for cause, n := range st.Causes {
			users := b.text(t, fmt.Sprintf(`tr[data-cause=%q] td.num`, cause))
			fix := b.text(t, fmt.Sprintf(`tr[data-cause=%q] td.fix`, cause))
			if users != fmt.Sprint(n) || fix != cause.Fix() {
				t.Errorf("%s: %s users, fix %q; want %d and %q", cause, users, fix, n, cause.Fix())
			}
		}
	})

	t.Run("a search typed at the keyboard finds a demo user, whose page shows the cause", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/"),
			chromedp.SendKeys(chromedp.CSS("#quick-q"), "212 555 0199\n"),
			chromedp.WaitVisible(chromedp.CSS(`#users tr[data-id="u24"]`)),
			chromedp.Click(chromedp.CSS(`#users tr[data-id="u24"] a`)),
			chromedp.WaitVisible(chromedp.CSS("#latest")))
		if cause := b.text(t, "#latest-cause"); cause != string(licensing.CauseNumberNotProvisioned) {
			t.Fatalf("u24's cause on the page: %q", cause)
		}
	})

	t.Run("check now gives the same decision as the last pass", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS("#check-now")), chromedp.WaitVisible(chromedp.CSS("#checks")))
		outcome, cause, same := b.text(t, "#check-outcome"), b.text(t, "#check-cause"), b.text(t, "#check-same")
		failed := b.count(t, "#checks li.check-failed")
		if outcome != "FAILED" || cause != "NUMBER_NOT_PROVISIONED" || same != "the same decision as the last pass" || failed != 1 {
			t.Fatalf("check now: %s %s, %q, %d failed checks", outcome, cause, same, failed)
		}
		if from := b.text(t, "#check-record"); from != "The user was read from the directory just now." {
			t.Fatalf("check now says %q, want the user read from the directory", from)
		}
		if focused := value(t, b, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "check-h" {
			t.Fatalf("focus after check now is on %q, want the result's heading (the console's script runs)", focused)
		}
	})

	t.Run("a display name carrying markup shows as text", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/users/u32"))
		name, links := b.text(t, "#user-h"), b.count(t, `a[href*="evil"]`)
		if want := `=HYPERLINK("http://evil.example","click")`; name != want || links != 0 {
			t.Fatalf("u32's name shows as %q with %d links to it, want %q as text", name, links, want)
		}
	})

	t.Run("after a pass the charts have one more point", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/passes"))
		before := b.count(t, "#chart-outcomes g.point")
		d.pass(t)
		b.do(t, chromedp.Reload())
		var after []int
		for _, id := range []string{"chart-outcomes", "chart-duration", "chart-traffic"} {
			after = append(after, b.count(t, "#"+id+" g.point"))
		}
		if before != 1 || after[0] != 2 || after[1] != 2 || after[2] != 2 {
			t.Fatalf("points before %d, after %v; want 1 then 2 in each chart", before, after)
		}
	})

	t.Run("downloads open", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/downloads"))
		links := value(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#reports a")).map(a => a.getAttribute("href"))`))
		if len(links) != 6 {
			t.Fatalf("download links %q, want csv, json and html for each of the 2 passes", links)
		}
		for _, href := range links {
			got := value(t, b, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text().then(body => r.status + " " + r.headers.get("content-type") + " " + body.length))`, href),
				func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
			if !strings.HasPrefix(got, "200 ") || strings.HasSuffix(got, " 0") {
				t.Errorf("%s: %s", href, got)
			}
		}
	})

	t.Run("the plan asked for on the Downloads page comes as a bulk-licence CSV", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/downloads"))
		if n := b.count(t, "#plan-csv"); n != 0 {
			t.Fatalf("%d plan CSV links before any plan was asked for", n)
		}
		// The page reloads itself (console.js) until the plan is written.
		b.do(t, chromedp.Click(chromedp.CSS("#plan-export")), chromedp.WaitVisible(chromedp.CSS("#plan-pending")), chromedp.WaitVisible(chromedp.CSS("#plan-csv")))
		href := value(t, b, chromedp.Evaluate[string](`document.getElementById("plan-csv").getAttribute("href")`))
		got := value(t, b, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => r.text().then(body => r.status + " " + r.headers.get("content-type") + " " + r.headers.get("content-disposition") + " " + body.split("\n")[0]))`, href),
			func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
		if !strings.HasPrefix(got, `200 text/csv; charset=utf-8 attachment; filename="licensync-`) || !strings.Contains(got, "-controlhub-bulk.csv\" User ID/Email") {
			t.Fatalf("%s: %s", href, got)
		}
	})

	t.Run("every field has a label and every chart a text alternative", func(t *testing.T) {
		charts := 0
		for _, path := range []string{"/", "/failures", "/users", "/users/u24", "/passes", "/downloads"} {
			b.do(t, chromedp.Navigate(srv.URL+path))
			charts += b.count(t, "svg[role=img]")
			unlabelled := value(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea")).filter(el => el.labels.length === 0).map(el => el.outerHTML)`))
			unnamed := value(t, b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg[role=img]")).filter(svg =>
				(svg.getAttribute("aria-labelledby") || "").split(" ").some(id => !document.getElementById(id) || !document.getElementById(id).textContent.trim())).map(svg => svg.outerHTML.slice(0, 80))`))
			if len(unlabelled) > 0 || len(unnamed) > 0 {
				t.Errorf("%s: fields without a label %q, charts without a title and description %q", path, unlabelled, unnamed)
			}
		}
		if charts != 3 {
			t.Fatalf("%d charts in all, want the passes page's 3", charts)
		}
	})

	t.Run("the keyboard reaches the content first and the page fits a phone", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/users?outcome=FAILED"), chromedp.KeyEvent("\t"))
		first := value(t, b, chromedp.Evaluate[string](`document.activeElement.textContent`))
		b.do(t, chromedp.KeyEvent("\r"))
		afterSkip := value(t, b, chromedp.Evaluate[string](`document.activeElement.id`))
		b.do(t, chromedp.EmulateViewport(375, 812), chromedp.Reload())
		overflow := value(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
		b.do(t, chromedp.EmulateViewport(1280, 900))
		if first != "Skip to content" || afterSkip != "main" || overflow {
			t.Fatalf("first Tab on %q, Enter moves to %q, page wider than a phone: %v", first, afterSkip, overflow)
		}
	})

	if bad := b.problems(); len(bad) > 0 {
		t.Fatalf("the browser reported:\n%s", html.UnescapeString(strings.Join(bad, "\n")))
	}
}

func TestTheOrganisationsListAndOneOrganisationsFailuresInARealBrowser(t *testing.T) {
	h, demos, _ := twoOrgs(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := newBrowser(t)
	st, err := demos["west"].store.StandingFailures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#orgs")))
	if rows, east := b.count(t, "#orgs tbody tr"), b.text(t, `#orgs tr[data-org="east"] td.num`); rows != 2 || east != "34" {
		t.Fatalf("%d organisations listed, east with %q users; want 2 and 34", rows, east)
	}
	b.do(t, chromedp.Click(chromedp.CSS(`#orgs tr[data-org="west"] td.num a`)), chromedp.WaitVisible(chromedp.CSS("#causes")))
	if path := value(t, b, chromedp.Evaluate[string](`location.pathname`)); path != "/orgs/west/failures" {
		t.Fatalf("the failures link opened %q", path)
	}
	if rows := b.count(t, "#causes tbody tr"); rows != len(st.Causes) || rows == 0 {
		t.Fatalf("%d causes listed, west has %d", rows, len(st.Causes))
	}
	for cause, n := range st.Causes {
		if users := b.text(t, fmt.Sprintf(`tr[data-cause=%q] td.num`, cause)); users != fmt.Sprint(n) {
			t.Errorf("%s: %s users, want %d", cause, users, n)
		}
	}
	if p := b.problems(); len(p) > 0 {
		t.Fatalf("the browser reported:\n%s", strings.Join(p, "\n"))
	}
}
