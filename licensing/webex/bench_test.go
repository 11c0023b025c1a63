package webex

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/licensync/licensync/licensing"
)

// BenchmarkProvision2000 licenses 2,000 people against a fake that allows
// 200 requests per second, with the client set below, at and above that.
// Run it with -benchtime=1x: one iteration is the whole pass.
func BenchmarkProvision2000(b *testing.B) {
	const users, serverRate = 2000, 200
	for _, clientRate := range []float64{150, 200, 400} {
		b.Run(fmt.Sprintf("client_%.0f_rps_server_%d_rps", clientRate, serverRate), func(b *testing.B) {
			for b.Loop() {
				f := newFake(b)
				f.org(users, users, users)
				f.retryAfter = "1"
				f.limiter = rate.NewLimiter(serverRate, 20)
				c := f.client(b, Options{Rate: clientRate, Concurrency: 8, Backoff: 200 * time.Millisecond})
				changes := make([]licensing.Change, users)
				for i := range changes {
					changes[i] = change(i, "CALL", "MEET")
				}
				start := time.Now()
				errs, pass := c.Apply(context.Background(), changes)
				elapsed := time.Since(start)
				if pass != nil {
					b.Fatal(pass)
				}
				for i, err := range errs {
					if err != nil {
						b.Fatalf("change %d: %v", i, err)
					}
				}
				if got := f.licence("CALL").Consumed; got != users {
					b.Fatalf("consumed = %d, want %d", got, users)
				}
				s := c.Stats()
				b.ReportMetric(float64(s.Requests)/elapsed.Seconds(), "req/s")
				b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
				b.ReportMetric(100*float64(s.Throttled)/float64(s.Requests), "%429")
				b.ReportMetric(elapsed.Seconds(), "s/pass")
			}
		})
	}
}
