package console

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/licensync/licensync/bench/synth"
	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// BenchmarkConsoleAt100000Users serves the console's heaviest reads over a
// state store that a real pass filled with the 100,000 users of the
// synthetic directory; each op is the server's time for one page:
//
//	go test ./sync/daemon/console -run '^$' -bench Console -benchtime 50x
func BenchmarkConsoleAt100000Users(b *testing.B) {
	const users = 100000
	dir := b.TempDir()
	if err := synth.Write(users, dir); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pass.Execute(context.Background(), pass.Options{
		Policy: cfg.Policy(), Source: file.New(cfg.Source.File.Path, nil), Target: org, Store: store,
		Mode: pass.Apply, SourceKey: "file", ReportDir: cfg.ReportDir,
	}); err != nil {
		b.Fatal(err)
	}
	org.Close()
	mid, total, err := store.FindUsers(context.Background(), pass.UserQuery{Offset: users / 2, Limit: 1})
	if err != nil || total != users || len(mid) != 1 {
		b.Fatalf("the store holds %d users (%v), want %d", total, err, users)
	}
	c, err := New(Options{Store: store, Listen: "127.0.0.1:9431", ReportDir: func() string { return cfg.ReportDir }})
	if err != nil {
		b.Fatal(err)
	}
	u := mid[0]
	for _, bc := range []struct{ name, path string }{
		{"users first page", "/users"},
		{"users failing oldest first", "/users?outcome=FAILED&sort=since"},
		{"search by email", "/users?q=" + url.QueryEscape(u.Email)},
		{"search by number", "/users?q=" + url.QueryEscape(u.WorkPhone)},
		{"user page", "/users/" + url.PathEscape(u.SourceID)},
		{"failures by cause", "/failures"},
		{"overview", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if w := get(b, c, bc.path); w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", bc.path, w.Code, w.Body)
				}
			}
		})
	}
}
