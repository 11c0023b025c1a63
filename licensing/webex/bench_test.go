package webex

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
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
// people through a fake that answers 429 (Retry-After: 1) past serverRate,
// and reports the rate achieved next to that limit, the yardstick.
func provision(b *testing.B, users int, serverRate, clientRate float64) {
	for b.Loop() {
		f := newFake(b)
		f.Org(users, users, users)
		f.RetryAfter = "1"
		f.Limiter = rate.NewLimiter(rate.Limit(serverRate), 20)
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
		if got := f.Licence("CALL").Consumed; got != users {
			b.Fatalf("consumed = %d, want %d", got, users)
		}
		s := c.Stats()
		reqRate := float64(s.Requests) / elapsed.Seconds()
		b.ReportMetric(reqRate, "req/s")
		b.ReportMetric(serverRate, "limit-req/s")
		b.ReportMetric(100*reqRate/serverRate, "%limit")
		b.ReportMetric(float64(users)/elapsed.Seconds(), "users/s")
		b.ReportMetric(100*float64(s.Throttled)/float64(s.Requests), "%429")
		b.ReportMetric(elapsed.Seconds(), "s/pass")
	}
}

// BenchmarkPass10000 runs a whole licensing pass of 10,000 directory users
// through the Webex target against a fake limited to 500 requests/s: the
// people listed, a request per thousand, and a PATCH per user, with the
// client set at the limit and at twice it. Run it with -benchtime=1x.
func BenchmarkPass10000(b *testing.B) {
	for _, clientRate := range []float64{500, 1000} {
		b.Run(fmt.Sprintf("client_%.0f_rps_server_500_rps", clientRate), func(b *testing.B) {
			pass10000(b, clientRate)
		})
	}
}

func pass10000(b *testing.B, clientRate float64) {
	const users, serverRate = 10000, 500
	dir := b.TempDir()
	var csv strings.Builder
	csv.WriteString("id,email,display_name,work_phone,enabled,groups\n")
	for i := range users {
		fmt.Fprintf(&csv, "u%d,user%d@example.com,User %d,%s,true,Calling\n", i, i, i, dialable(i))
	}
	src := filepath.Join(dir, "directory.csv")
	if err := os.WriteFile(src, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "licensync.yaml"), []byte("source: {kind: file, file: {path: directory.csv}}\n"+
		"templates:\n  - {name: calling, groups: [Calling], licenses: [{id: CALL}]}\n"), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f := newFake(b)
		f.Org(users, users, users)
		for i, n := range f.Numbers {
			n.Phone = dialable(i)
		}
		f.RetryAfter = "1"
		f.Limiter = rate.NewLimiter(serverRate, 20)
		c := f.client(b, Options{Rate: clientRate, Concurrency: 8, Backoff: 200 * time.Millisecond})
		store, err := pass.OpenStore(filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := pass.Execute(context.Background(), pass.Options{
			Policy: cfg.Policy(), Source: file.New(src, nil), Target: c, Store: store, Mode: pass.Apply,
			SourceKey: "file", ReportDir: b.TempDir(), BatchSize: 500,
		})
		elapsed := time.Since(start)
		store.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.Writes != users {
			b.Fatalf("writes = %d, want %d (%v)", res.Writes, users, res.Summary.Causes)
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

// dialable is the ith of 10,000 valid New York numbers (the fake's own
// +1555 numbers do not parse as E.164 a directory could carry).
func dialable(i int) string { return fmt.Sprintf("+1212555%04d", i) }

// BenchmarkPass100000Unchanged runs whole passes over 100,000 directory
// users whom the test server already holds provisioned: a full pass, then
// incremental passes that read k changed users. It reports what reached the
// server per pass next to the pass's bound and to what looking each user
// up would have cost in the same pass (the users read and the inventory
// pages): the goal is a full pass in at most 2,000 requests and an
// incremental one in at most k + inventory pages + 10. Run it with
// -benchtime=1x: one iteration is one pass.
func BenchmarkPass100000Unchanged(b *testing.B) {
	const users = 100000
	f := newFake(b)
	f.provisioned(users, e164)
	src := &changingSource{}
	for i := range users {
		src.users = append(src.users, licensing.DirectoryUser{ID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i),
			DisplayName: fmt.Sprintf("User %d", i), WorkPhone: e164(i), Enabled: true})
	}
	dir := b.TempDir()
	store, err := pass.OpenStore(filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	c := f.client(b, Options{})
	run := func(b *testing.B, full bool) *pass.Result {
		res, err := pass.Execute(context.Background(), pass.Options{
			Policy: &licensing.Policy{Templates: []licensing.Template{{Name: "calling", Licences: []licensing.LicenceRef{{ID: "CALL"}}}}},
			Source: src, Target: c, Store: store, Mode: pass.Apply, Full: full, SourceKey: "bench",
			ReportDir: filepath.Join(dir, "reports"), BatchSize: 500,
		})
		if err != nil {
			b.Fatal(err)
		}
		if res.Writes != 0 || res.Summary.Outcomes[string(licensing.AlreadyProvisioned)] != res.Summary.Users {
			b.Fatalf("%d writes, %v; want every user read already provisioned", res.Writes, res.Summary.Outcomes)
		}
		return res
	}
	// The first pass fills the state store; the timed ones find it full.
	run(b, true)
	for _, tc := range []struct {
		name    string
		changed int // -1: a full pass
	}{
		{"full", -1},
		{"incremental_k10", 10},
		{"incremental_k1000", 1000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src.changed = nil
			for i := range max(tc.changed, 0) {
				src.changed = append(src.changed, i*users/max(tc.changed, 1))
			}
			var all, lookups, listPages, inventory, read int
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				f.Mu.Lock()
				f.Log = nil
				f.Mu.Unlock()
				b.StartTimer()
				start := time.Now()
				res := run(b, tc.changed < 0)
				elapsed += time.Since(start)
				a, l, p := f.requests()
				all, lookups, listPages = all+a, lookups+l, listPages+p
				inventory += len(f.Calls("GET", "/telephony/config/numbers"))
				read += res.Summary.Users
			}
			n := float64(b.N)
			bound := 2000.0
			if tc.changed >= 0 {
				bound = float64(tc.changed) + float64(inventory)/n + 10
			}
			b.ReportMetric(float64(all)/n, "requests/pass")
			b.ReportMetric(bound, "bound/pass")
			b.ReportMetric(float64(read+inventory)/n, "lookup-each/pass")
			b.ReportMetric(float64(listPages)/n, "people-pages/pass")
			b.ReportMetric(float64(lookups)/n, "lookups/pass")
			b.ReportMetric(float64(inventory)/n, "inventory-pages/pass")
			b.ReportMetric(elapsed.Seconds()/n, "s/pass")
		})
	}
}
