package licensing

import (
	"context"
	"testing"
	"time"
)

func TestLivenessHearsAnswersAndKeepsTheLongestWait(t *testing.T) {
	var l Liveness
	ctx := WithLiveness(context.Background(), &l)
	before := time.Now()
	Answered(ctx)
	Answered(ctx)
	Waiting(ctx, time.Hour)
	Waiting(ctx, time.Minute) // a shorter wait beside it does not shorten it
	if err := Sleep(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	Answered(context.Background()) // another pass's, or none: not counted
	if l.Answers() != 2 {
		t.Errorf("answers = %d, want 2", l.Answers())
	}
	if w := l.WaitingUntil().Sub(before); w < time.Hour || w > time.Hour+time.Minute {
		t.Errorf("waiting until %s from now, want the hour", w)
	}
}

func TestSleepStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Sleep took %s after its context ended", d)
	}
}
