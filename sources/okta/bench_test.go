package okta

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/licensync/licensync/internal/benchhttp"
	"github.com/licensync/licensync/licensing"
)

const benchUsers = 100_000

// orgOf is an organisation of n users, all in Calling Users (the template
// group), with the rate limit of Okta's user listing endpoints (600
// requests a minute per endpoint family).
func orgOf(tb testing.TB, n int) (*fakeOkta, *fakeClock) {
	tb.Helper()
	clk := newFakeClock()
	f := newFakeOkta(tb, clk, testToken)
	f.limit = 600
	populate(f, n)
	// Users were created and changed over the past months, not at once.
	for i := range n {
		f.users[fmt.Sprintf("00u%05d", i)].LastUpdated = clk.Now().Add(-time.Duration(n-i) * time.Minute)
	}
	clk.Advance(time.Hour)
	return f, clk
}

func count(b *testing.B, s *Source, since string) (int, string) {
	b.Helper()
	n := 0
	next, _, err := s.Users(context.Background(), since, func(licensing.DirectoryUser) error { n++; return nil })
	if err != nil {
		b.Fatal(err)
	}
	return n, next
}

// BenchmarkFullPass reads the 100,000 users in pages of 200. okta-s/op is
// the time the pass takes by the rate limited organisation's clock: the
// waits the pacing adds, which a real organisation would impose.
func BenchmarkFullPass(b *testing.B) {
	f, clk := orgOf(b, benchUsers)
	s := openFake(b, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
	b.ReportAllocs()
	b.ResetTimer()
	start, reqs := clk.Now(), s.Stats().Requests
	for range b.N {
		if n, _ := count(b, s, ""); n != benchUsers {
			b.Fatalf("%d users", n)
		}
	}
	b.StopTimer()
	report(b, s, clk.Now().Sub(start), reqs)
}

// BenchmarkIncrementalPass reads what changed after 100 users' phones
// changed, from the checkpoint of the pass before.
func BenchmarkIncrementalPass(b *testing.B) {
	f, clk := orgOf(b, benchUsers)
	s := openFake(b, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
	_, cp := count(b, s, "")
	b.ReportAllocs()
	b.ResetTimer()
	var simulated time.Duration
	reqs := s.Stats().Requests
	for i := range b.N {
		b.StopTimer()
		clk.Advance(5 * time.Minute)
		for j := range 100 {
			id := fmt.Sprintf("00u%05d", (i*100+j)*7%benchUsers)
			f.update(id, func(u *fakeUser) { u.Profile["primaryPhone"] = fmt.Sprintf("+1646555%04d", j) })
		}
		clk.Advance(time.Minute)
		start := clk.Now()
		b.StartTimer()
		n, next := count(b, s, cp)
		if n < 100 {
			b.Fatalf("%d users emitted, want the 100 changed", n)
		}
		simulated += clk.Now().Sub(start)
		cp = next
	}
	b.StopTimer()
	report(b, s, simulated, reqs)
}

// BenchmarkQuietIncrementalPass reads what changed when nothing did, from
// the checkpoint of the pass before: what the daemon does most of the day.
// Its yardstick, from the same run, is one bare request to the same server
// (a page of one user), timed the same way.
func BenchmarkQuietIncrementalPass(b *testing.B) {
	f, clk := orgOf(b, benchUsers)
	s := openFake(b, f, Options{TemplateGroups: []string{"Calling Users"}}, nil)
	_, cp := count(b, s, "")
	b.ReportAllocs()
	b.ResetTimer()
	var simulated time.Duration
	reqs := s.Stats().Requests
	served := len(f.Requests())
	for b.Loop() {
		b.StopTimer()
		clk.Advance(5 * time.Minute)
		start := clk.Now()
		b.StartTimer()
		n, next := count(b, s, cp)
		if n != 0 {
			b.Fatalf("%d users emitted, want none", n)
		}
		simulated += clk.Now().Sub(start)
		cp = next
	}
	b.StopTimer()
	b.ReportMetric(float64(len(f.Requests())-served)/float64(b.N), "requests/pass")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(f.bareRequest(b, b.N), "bare-request-s")
	report(b, s, simulated, reqs)
}

// bareRequest times n single requests for one page of one user, each on a
// warm connection as the source's are, and returns the mean in seconds.
func (f *fakeOkta) bareRequest(b *testing.B, n int) float64 {
	return benchhttp.MeanGet(b, f.srv.Client(), n, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/users?limit=1", nil)
		if err == nil {
			req.Header.Set("Authorization", "SSWS "+f.token)
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
}

func report(b *testing.B, s *Source, simulated time.Duration, reqs int64) {
	st := s.Stats()
	b.ReportMetric(simulated.Seconds()/float64(b.N), "okta-s/op")
	b.ReportMetric(float64(st.Requests-reqs)/float64(b.N), "requests/op")
	b.ReportMetric(float64(st.Throttled), "429s")
}
