package daemon

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/pass/daemon/console"
)

// passErrors keeps the last error of each side of the passes since the
// last one that succeeded, for the console's overview.
type passErrors struct {
	mu     sync.Mutex
	bySide map[string]console.SideError
}

// sideOf tells which side an error of a pass came from by the prefix the
// pass and its wiring give it ("source ...", "target ...").
func sideOf(msg string) string {
	for _, side := range []string{SideSource, SideTarget} {
		if strings.HasPrefix(msg, side) {
			return side
		}
	}
	return "pass"
}

func (e *passErrors) record(err error, at time.Time) {
	msg := err.Error()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bySide == nil {
		e.bySide = map[string]console.SideError{}
	}
	side := sideOf(msg)
	e.bySide[side] = console.SideError{Side: side, At: at, Message: msg}
}

func (e *passErrors) clear() {
	e.mu.Lock()
	e.bySide = nil
	e.mu.Unlock()
}

func (e *passErrors) list() []console.SideError {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []console.SideError{}
	for _, side := range []string{SideSource, SideTarget, "pass"} {
		if se, ok := e.bySide[side]; ok {
			out = append(out, se)
		}
	}
	return out
}

// ConsoleStatus is what the service tells the console: the pass in
// flight, the next scheduled passes and the last errors.
func (s *Service) ConsoleStatus() console.Status {
	inc, full := s.sched.Next()
	st := console.Status{Running: s.sched.Running(), NextIncremental: inc, NextFull: full, Errors: s.errs.list()}
	st.Export, st.ExportError = s.export.status()
	lead := s.o.Leadership
	if lead == nil {
		lead = s.orgsLead
	}
	if lead != nil {
		st.Replicated = true
		st.Leads, _ = lead.Leads()
	}
	return st
}

// mountConsole serves the console at every path the service's own
// endpoints leave.
func (s *Service) mountConsole(mux *http.ServeMux) {
	o := *s.o.Console
	o.Status = s.ConsoleStatus
	if s.o.PlanExport != nil {
		o.ExportPlan = s.ExportPlan
	}
	if o.Log == nil {
		o.Log = s.o.Log
	}
	c, err := console.New(o)
	if err != nil {
		s.o.Log.Error("console not served", zap.Error(err))
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "the console is not available: "+err.Error(), http.StatusServiceUnavailable)
		})
		return
	}
	s.console = c
	mux.Handle("/", c)
}
