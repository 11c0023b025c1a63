package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

func init() {
	sourceOpeners["file"] = func(_ context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		return file.New(cfg.Source.File.Path, func(e *file.RowError) {
			log.Warn("a directory row could not be read whole: its user fails as UNREADABLE_RECORD", zap.String("file", e.Path), zap.Int("line", e.Line), zap.String("problem", e.Msg))
		}), nil
	}
}
