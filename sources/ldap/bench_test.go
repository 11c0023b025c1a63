package ldap

import (
	"context"
	"testing"

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
