package pass

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/licensync/licensync/bench/synth"
	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/sources/file"
)

// BenchmarkPlan plans over a synthetic directory of 20,000 users (or
// $LICENSYNC_BENCH_USERS) on the offline target:
//
//	go test ./pass -run '^$' -bench 'Plan$' -benchmem
//
// With -cpuprofile, the setup (writing the directory, seeding the org) is
// in the profile too: pprof's -ignore 'synth|offline\.Open' leaves it out.
func BenchmarkPlan(b *testing.B) {
	users := 20000
	if v := os.Getenv("LICENSYNC_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("LICENSYNC_BENCH_USERS=%q: want a number of users", v)
		}
		users = n
	}
	dir := b.TempDir()
	if err := synth.Write(users, dir); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		b.Fatal(err)
	}
	defer org.Close()
	store, err := OpenStore(cfg.State)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Execute(context.Background(), Options{
			Policy: cfg.Policy(), Source: file.New(cfg.Source.File.Path, nil), Target: org, Store: store,
			Mode: PlanOnly, SourceKey: "file", ReportDir: cfg.ReportDir,
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
}
