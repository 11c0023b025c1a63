package daemon

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

// planExport is where the plan the console asked for stands.
type planExport struct {
	mu sync.Mutex
	// state is "", console.ExportQueued or console.ExportRunning.
	state string
	// failed is the last export's error until one succeeds.
	failed *console.SideError
}

func (e *planExport) set(state string) {
	e.mu.Lock()
	e.state = state
	e.mu.Unlock()
}

func (e *planExport) status() (string, *console.SideError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state, e.failed
}

// ExportPlan asks for a plan pass that exports the plan as a Control Hub
// bulk-licence CSV. It waits its turn behind the pass in flight, like a
// triggered pass; asking again while one waits or runs joins it.
func (s *Service) ExportPlan() {
	e := &s.export
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != "" {
		return
	}
	e.state = console.ExportQueued
	res := s.sched.Do(s.runPlanExport)
	s.o.Log.Info("plan export asked for", zap.String("result", string(res)))
}

func (s *Service) runPlanExport(ctx context.Context) {
	s.export.set(console.ExportRunning)
	// The file is in place before the console stops saying it is coming.
	defer s.export.set("")
	prog := &pass.Progress{}
	start := time.Now()
	s.running.Store(&runningPass{prog: prog, started: start})
	res, err := s.o.PlanExport(ctx, prog)
	s.running.Store(nil)
	s.export.mu.Lock()
	defer s.export.mu.Unlock()
	if err != nil {
		s.export.failed = &console.SideError{Side: sideOf(err.Error()), At: time.Now(), Message: err.Error()}
		s.o.Log.Error("plan export failed", zap.Error(err))
		return
	}
	s.export.failed = nil
	s.o.Log.Info("plan exported", zap.String("run", res.Run.ID), zap.Duration("took", time.Since(start)))
}
