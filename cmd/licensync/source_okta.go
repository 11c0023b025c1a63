package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/okta"
)

func init() {
	sourceOpeners["okta"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		// Only the groups templates name are read from Okta: listing every
		// group's members would cost far more requests than the users.
		return okta.Open(ctx, *cfg.Source.Okta, okta.Options{Log: log.Named("okta"), TemplateGroups: templateGroups(cfg)})
	}
}
