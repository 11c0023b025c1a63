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
	for _, clientRate := range []float64{150, 200, 400} {
		b.Run(fmt.Sprintf("client_%.0f_rps_server_200_rps", clientRate), func(b *testing.B) {
			provision(b, 2000, 200, clientRate)
		})
	}
}

// BenchmarkProvision10000 licenses 10,000 people against a fake that allows
// 500 requests per second, with the client set at the limit and at twice
// it (an administrator who does not know the limit): the adaptive rate must
// keep throughput within 90% of the limit with at most 1% of the requests
// answered 429. Run it with -benchtime=1x.
func BenchmarkProvision10000(b *testing.B) {
	for _, clientRate := range []float64{500, 1000} {
		b.Run(fmt.Sprintf("client_%.0f_rps_server_500_rps", clientRate), func(b *testing.B) {
			provision(b, 10000, 500, clientRate)
		})
	}
}

// provision applies one Calling and one Meetings licence to each of users
// people through a fake that answers 429 (Retry-After: 1) past serverRate.
func provision(b *testing.B, users int, serverRate, clientRate float64) {
	for b.Loop() {
		f := newFake(b)
		f.org(users, users, users)
		f.retryAfter = "1"
		f.limiter = rate.NewLimiter(rate.Limit(serverRate), 20)
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
		reqRate := float64(s.Requests) / elapsed.Seconds()
		b.ReportMetric(reqRate, "req/s")
		b.ReportMetric(100*reqRate/serverRate, "%limit")
		b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
		b.ReportMetric(100*float64(s.Throttled)/float64(s.Requests), "%429")
		b.ReportMetric(elapsed.Seconds(), "s/pass")
	}
}
