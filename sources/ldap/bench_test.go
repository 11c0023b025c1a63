package ldap

import (
	"context"
	"fmt"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/licensing"
)

// BenchmarkFullPass reads a directory of 20,000 users from slapd, in pages
// of 500, with the group graph.
func BenchmarkFullPass(b *testing.B) {
	const n = 20000
	srv := startSlapd(b, directory(n), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	src, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := src.Users(context.Background(), "", func(licensing.DirectoryUser) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkIncrementalPass100Changed changes 100 of 20,000 users and times
// the incremental pass that reads them, which must emit exactly those 100.
func BenchmarkIncrementalPass100Changed(b *testing.B) {
	const n, changed = 20000, 100
	srv := startSlapd(b, directory(n), options{})
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.GroupBaseDN = groups
	src, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	count := func(u *int) func(licensing.DirectoryUser) error {
		return func(licensing.DirectoryUser) error { *u++; return nil }
	}
	var all int
	cp, _, err := src.Users(context.Background(), "", count(&all))
	if err != nil {
		b.Fatal(err)
	}
	admin := srv.admin()
	round := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		round++
		// Users 100 and up sit in no group: only they change.
		for i := 0; i < changed; i++ {
			m := goldap.NewModifyRequest(userDN(100+i*(n-100)/changed), nil)
			m.Replace("telephoneNumber", []string{fmt.Sprintf("+1 646 555 %04d", round)})
			if err := admin.Modify(m); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var got int
		if cp, _, err = src.Users(context.Background(), cp, count(&got)); err != nil {
			b.Fatal(err)
		}
		if got != changed {
			b.Fatalf("the incremental pass emitted %d users, want the %d changed", got, changed)
		}
	}
}

// BenchmarkQuietIncrementalPass100k times an incremental pass over 100,000
// users when nothing changed since the last: what the daemon does most of
// the day. requests/pass counts every LDAP message the source sends; the
// yardstick, from the same run, is one bare request through the same proxy
// to the same slapd (a base-scope search of the rootDSE), timed the same way.
func BenchmarkQuietIncrementalPass100k(b *testing.B) {
	const n = 100000
	srv := startSlapd(b, directory(n), options{})
	proxy := startCountingProxy(b, srv.url)
	cfg := srv.config(DialectOpenLDAP, people)
	cfg.URLs = []string{proxy.url}
	cfg.GroupBaseDN = groups
	src, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	emitted := 0
	count := func(licensing.DirectoryUser) error { emitted++; return nil }
	cp, _, err := src.Users(context.Background(), "", count)
	if err != nil || emitted != n {
		b.Fatalf("the full pass: %d users, %v", emitted, err)
	}
	emitted = 0
	before := proxy.sent.Load()
	b.ResetTimer()
	for b.Loop() {
		if cp, _, err = src.Users(context.Background(), cp, count); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if emitted != 0 {
		b.Fatalf("the quiet passes emitted %d users, want none", emitted)
	}
	b.ReportMetric(float64(proxy.sent.Load()-before)/float64(b.N), "requests/pass")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(bareRequest(b, proxy.url, b.N), "bare-request-s")
}

// bareRequest times n base-scope searches of the rootDSE on one open
// connection, as the source's is, and returns the mean in seconds.
func bareRequest(b *testing.B, url string, n int) float64 {
	conn, err := goldap.DialURL(url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	search := func() {
		res, err := conn.Search(goldap.NewSearchRequest("", goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=*)", []string{"namingContexts"}, nil))
		if err != nil || len(res.Entries) != 1 {
			b.Fatalf("a bare search of the rootDSE: %v", err)
		}
	}
	search()
	start := time.Now()
	for range n {
		search()
	}
	return time.Since(start).Seconds() / float64(n)
}
