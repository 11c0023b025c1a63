package main

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	licsync "github.com/licensync/licensync/sync"
)

func TestAPassKeepsItsTrafficInTheStateStoreForTheConsole(t *testing.T) {
	cfg, err := config.Load(copyDemo(t, clean), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := sourceOpeners["file"]
	t.Cleanup(func() { sourceOpeners["file"] = open })
	sourceOpeners["file"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Source, error) {
		src, err := open(ctx, cfg, log)
		return countingSource{Source: src, t: licensing.Traffic{Requests: 7, Retries: 2, Throttled: 1}}, err
	}
	res, err := executePass(context.Background(), cfg, passOptions{mode: licsync.Apply, reportDir: t.TempDir(), log: zap.NewNop()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := licsync.OpenStore(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.RunTraffic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[res.Run.ID]["source"] != (licsync.Traffic{Requests: 7, Retries: 2, Throttled: 1}) {
		t.Fatalf("traffic kept = %+v, want the source's 7 requests for pass %s", got, res.Run.ID)
	}
}
