package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/ldap"
)

func init() {
	sourceOpeners["ldap"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		return ldap.Open(ctx, *cfg.Source.LDAP, log.Named("ldap"), ldap.TemplateGroups(templateGroups(cfg)...))
	}
}
