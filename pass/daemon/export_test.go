package daemon

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

func TestAPlanAskedForWaitsForThePassJoinsAnotherAndReportsItsError(t *testing.T) {
	passRelease, planRelease := make(chan struct{}), make(chan struct{})
	passIn, planIn := make(chan struct{}, 1), make(chan struct{}, 2)
	var plans atomic.Int32
	fail := errors.New("target offline: org.db: no such file")
	svc := New(Options{
		Schedule: Schedule{FullHour: 2},
		Pass: func(ctx context.Context, full bool, p *pass.Progress) (*pass.Result, error) {
			passIn <- struct{}{}
			<-passRelease
			return succeeded(ctx, full, p)
		},
		PlanExport: func(context.Context, *pass.Progress) (*pass.Result, error) {
			n := plans.Add(1)
			planIn <- struct{}{}
			<-planRelease
			if n == 1 {
				return nil, fail
			}
			return &pass.Result{Run: pass.RunInfo{ID: "p2"}}, nil
		},
		Status: status,
		Notify: func(string) error { return nil },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	svc.Scheduler().Trigger(false)
	<-passIn
	svc.ExportPlan()
	svc.ExportPlan() // joins the one waiting
	if st := svc.ConsoleStatus(); st.Export != console.ExportQueued {
		t.Fatalf("during the pass the plan is %q, want %q", st.Export, console.ExportQueued)
	}
	select {
	case <-planIn:
		t.Fatal("the plan started beside the pass")
	case <-time.After(50 * time.Millisecond):
	}
	passRelease <- struct{}{}
	<-planIn
	if st := svc.ConsoleStatus(); st.Export != console.ExportRunning {
		t.Fatalf("the plan is %q, want %q", st.Export, console.ExportRunning)
	}
	planRelease <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for svc.ConsoleStatus().Export != "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := svc.ConsoleStatus()
	if st.ExportError == nil || st.ExportError.Message != fail.Error() || st.ExportError.Side != SideTarget || plans.Load() != 1 {
		t.Fatalf("after a failed plan: %+v, %d plans; want one plan and its error on the target side", st.ExportError, plans.Load())
	}
	svc.ExportPlan()
	<-planIn
	planRelease <- struct{}{}
	for svc.ConsoleStatus().Export != "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := svc.ConsoleStatus(); st.ExportError != nil || plans.Load() != 2 {
		t.Fatalf("after a plan that succeeded: error %+v, %d plans", st.ExportError, plans.Load())
	}
}
