package pass

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestBatchesAheadRunAtMostTwoAtOnceAndAreHandedOnInTheOrderTheyStarted(t *testing.T) {
	var a ahead[int]
	var running, most atomic.Int32
	var got []int
	next := func(n int) error { got = append(got, n); return nil }
	for i := range 6 {
		err := a.start(func() int {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			// The later batches finish first.
			time.Sleep(time.Duration(6-i) * time.Millisecond)
			running.Add(-1)
			return i
		}, next)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := a.finish(next); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Fatalf("handed on %v, want %v", got, want)
	}
	if m := most.Load(); m > batchesAhead {
		t.Fatalf("%d batches ran at once, want at most %d", m, batchesAhead)
	}
}

func TestBatchesAheadStopAtTheFirstErrorAndLeaveNothingRunning(t *testing.T) {
	var a ahead[int]
	stop := errors.New("stop")
	var handed []int
	next := func(n int) error {
		handed = append(handed, n)
		if n == 1 {
			return stop
		}
		return nil
	}
	var err error
	var done atomic.Int32
	for i := 0; i < 6 && err == nil; i++ {
		err = a.start(func() int { defer done.Add(1); return i }, next)
	}
	if !errors.Is(err, stop) || !slices.Equal(handed, []int{0, 1}) {
		t.Fatalf("err %v after handing on %v; want stop after 0 and 1", err, handed)
	}
	a.wait()
	if n := done.Load(); n != 3 || len(a.running) != 0 {
		t.Fatalf("%d batches ran and %d are left running; want the 3 started (0, 1, and 2 while 0 was handed on), none left", n, len(a.running))
	}
}
