// Package console is the help-desk console of licensync serve: server-rendered
// pages at / and a JSON API under /api/v1/, read from the state store. It
// answers the help desk's one question, "why does this person still have no
// phone, and since when?", and lets an operator leave the overview open.
//
// Everything it serves is embedded: no CDN, no inline script (the
// Content-Security-Policy forbids it), charts drawn as SVG on the server.
// It writes nothing: "check now" reads one user again from the source and
// decides them against the live target without applying the decision.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

//go:embed templates/*.html static/*
var assets embed.FS

// ContentSecurityPolicy is sent with every console response: only the
// console's own files may load, no inline script runs, and no other site may
// frame it.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

// Options configure the console.
type Options struct {
	// Store is the state store, opened for the console's reads.
	Store *pass.Store
	// ReportDir returns the folder the passes write their reports under.
	ReportDir func() string
	// Listen is daemon.listen: on a loopback address the console is open.
	Listen string
	// Access returns who may use the console off loopback, read at each
	// request so that a reloaded configuration applies.
	Access func() Access
	// Status returns what the service knows beside the store: the pass in
	// flight, the next passes and the last errors.
	Status func() Status
	// Live opens the target and returns it with the policy, for "check
	// now"; the console closes the target. Nil turns "check now" off.
	Live func(ctx context.Context) (*licensing.Policy, pass.Target, error)
	// Source opens the configured source for "check now", which reads the
	// user again when it is a UserReader; the console closes it. Nil, or a
	// source that cannot be reached, decides on the stored record.
	Source func(ctx context.Context) (pass.Source, error)
	// ExportPlan asks the service for a plan pass that writes the plan as
	// a Control Hub bulk-licence CSV (PlanExportFile) into its report
	// folder; it returns at once. Nil turns the Downloads page's button
	// off.
	ExportPlan func()
	// Location is the zone times are shown in; nil means UTC.
	Location *time.Location
	// Log defaults to no logging.
	Log *zap.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Base is the path the console's pages are served under, "" for /;
	// API is its API's root, "" for /api/v1. In the orgs form one
	// organisation's console has Base /orgs/NAME and API
	// /api/v1/orgs/NAME (see NewOrgs).
	Base, API string
}

// Status is what the service reports about its passes.
type Status struct {
	// Running is true while a pass is in flight.
	Running bool `json:"running"`
	// NextIncremental and NextFull are when the next scheduled passes are
	// due; zero when none is scheduled.
	NextIncremental time.Time `json:"next_incremental,omitzero"`
	NextFull        time.Time `json:"next_full,omitzero"`
	// Errors are the last error of each side (source, target, pass) since
	// the last pass that succeeded.
	Errors []SideError `json:"errors"`
	// Replicated is true when replicas share the state store under
	// leases; Leads lists the organisations this replica leads.
	Replicated bool     `json:"replicated"`
	Leads      []string `json:"leads,omitempty"`
	// Export is where the plan asked for on the Downloads page stands:
	// ExportQueued, ExportRunning, or "" when none is coming.
	Export string `json:"export,omitempty"`
	// ExportError is the last such plan's error until one succeeds.
	ExportError *SideError `json:"export_error,omitempty"`
}

// Where an asked-for plan stands (Status.Export).
const (
	ExportQueued  = "queued"
	ExportRunning = "running"
)

// SideError is the last error one side of a pass gave.
type SideError struct {
	// Side is source, target or pass (neither side: the state store, the
	// reports, a refused removal).
	Side    string    `json:"side"`
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// Console serves the pages and the API.
type Console struct {
	o     Options
	open  bool
	pages map[string]*template.Template
	mux   *http.ServeMux
	auth  *authCache
	// checking admits one "check now" at a time: each reads the source and
	// the target.
	checking chan struct{}
	// csrfKey signs the Downloads form's tokens.
	csrfKey []byte
}

// New returns the console; it is an http.Handler for "/" and "/api/v1/".
func New(o Options) (*Console, error) {
	if o.Store == nil {
		return nil, errors.New("console: no state store")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Status == nil {
		o.Status = func() Status { return Status{} }
	}
	if o.Access == nil {
		o.Access = func() Access { return Access{} }
	}
	if o.ReportDir == nil {
		o.ReportDir = func() string { return "" }
	}
	c := &Console{o: o, open: loopbackListen(o.Listen), auth: &authCache{}, checking: make(chan struct{}, 1), csrfKey: make([]byte, 32)}
	if _, err := rand.Read(c.csrfKey); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// apiRoot is where links find the console's API.
func (c *Console) apiRoot() string {
	if c.o.API == "" {
		return "/api/v1"
	}
	return c.o.API
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", c.page("overview", c.overview))
	m.HandleFunc("GET /failures", c.page("failures", c.failures))
	m.HandleFunc("GET /users", c.page("users", c.users))
	m.HandleFunc("GET /users/{id}", c.page("user", c.user))
	m.HandleFunc("GET /users/{id}/check", c.page("user", c.checkNow))
	m.HandleFunc("GET /passes", c.page("passes", c.passes))
	m.HandleFunc("GET /downloads", c.withCSRFToken(c.page("downloads", c.downloads)))
	m.HandleFunc("POST /downloads/plan", c.askPlan)

	m.HandleFunc("GET /api/v1/{$}", c.api(c.apiIndex))
	m.HandleFunc("GET /api/v1/overview", c.api(c.overview))
	m.HandleFunc("GET /api/v1/failures", c.api(c.failures))
	m.HandleFunc("GET /api/v1/users", c.api(c.users))
	m.HandleFunc("GET /api/v1/users/{id}", c.api(c.user))
	m.HandleFunc("GET /api/v1/users/{id}/check", c.api(c.checkNow))
	m.HandleFunc("GET /api/v1/passes", c.api(c.passes))
	m.HandleFunc("GET /api/v1/passes/{id}/{file}", c.report)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "no such page")
	})
	c.mux = m
}

// ServeHTTP checks access, sets the security headers and serves.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.guard(w, r) {
		c.mux.ServeHTTP(w, r)
	}
}

// guard sets the security headers and reports whether r may be served;
// when not, it has answered.
func (c *Console) guard(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: a browser then sends the Origin of
	// the console's own form, which askPlan checks; no other site learns
	// a console address.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if code, why := c.authorize(r); code != 0 {
		if code == http.StatusUnauthorized && len(c.o.Access().Users) > 0 {
			h.Set("WWW-Authenticate", `Basic realm="licensync console", charset="UTF-8"`)
		}
		c.o.Log.Info("console request refused", zap.Int("status", code), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
		http.Error(w, why, code)
		return false
	}
	return true
}

// errStatus is an error with the HTTP status it is answered with.
type errStatus struct {
	code int
	msg  string
}

func (e *errStatus) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &errStatus{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &errStatus{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// view builds one page's data, which is also the API's answer.
type view func(r *http.Request) (any, error)

// page renders a view with the template name.
func (c *Console) page(name string, v view) http.HandlerFunc {
	return c.answer(v, "text/html; charset=utf-8", func(w http.ResponseWriter, data any) {
		if err := c.pages[name].ExecuteTemplate(w, "layout", pageData{Page: name, Data: data, Open: c.open}); err != nil {
			c.o.Log.Warn("console page not rendered", zap.String("page", name), zap.Error(err))
		}
	})
}

// answer builds a view's data, says how long that took (Server-Timing, the
// figure the console's benchmark and a browser's tools show), and writes it.
func (c *Console) answer(v view, contentType string, write func(http.ResponseWriter, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		data, err := v(r)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.1f", float64(time.Since(start).Microseconds())/1000))
		write(w, data)
	}
}

// pageData is what the layout gets.
type pageData struct {
	Page string
	Data any
	// Open says the console needs no sign-in (a loopback listen address).
	Open bool
}

// api answers a view as JSON.
func (c *Console) api(v view) http.HandlerFunc {
	return c.answer(v, "application/json", func(w http.ResponseWriter, data any) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(data)
	})
}

func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var es *errStatus
	if errors.As(err, &es) {
		c.fail(w, r, es.code, es.msg)
		return
	}
	c.o.Log.Error("console request failed", zap.String("path", r.URL.Path), zap.Error(err))
	c.fail(w, r, http.StatusInternalServerError, err.Error())
}

// fail answers an error as JSON on the API and as a page elsewhere.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if isAPI(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = c.pages["error"].ExecuteTemplate(w, "layout", pageData{Page: "error", Data: map[string]any{"Code": code, "Status": http.StatusText(code), "Message": msg}, Open: c.open})
}

func isAPI(r *http.Request) bool {
	return len(r.URL.Path) >= len("/api/") && r.URL.Path[:len("/api/")] == "/api/"
}
