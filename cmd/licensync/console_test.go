package main

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

func TestAPassKeepsItsTrafficInTheStateStoreForTheConsole(t *testing.T) {
	cfg, err := config.Load(copyDemo(t, clean), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := sourceOpeners["file"]
	t.Cleanup(func() { sourceOpeners["file"] = open })
	sourceOpeners["file"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		src, err := open(ctx, cfg, log)
		return countingSource{Source: src, t: licensing.Traffic{Requests: 7, Retries: 2, Throttled: 1}}, err
	}
	res, err := executePass(context.Background(), cfg, passOptions{mode: pass.Apply, reportDir: t.TempDir(), log: zap.NewNop()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := pass.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.RunTraffic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[res.Run.ID]["source"] != (pass.Traffic{Requests: 7, Retries: 2, Throttled: 1}) {
		t.Fatalf("traffic kept = %+v, want the source's 7 requests for pass %s", got, res.Run.ID)
	}
}
