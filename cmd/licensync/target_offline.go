package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
)

func init() {
	targetOpeners["offline"] = func(_ context.Context, cfg *config.Config, _ *zap.Logger) (pass.Target, error) {
		return offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	}
}
