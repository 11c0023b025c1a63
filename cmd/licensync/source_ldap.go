package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/sources/ldap"
	licsync "github.com/licensync/licensync/sync"
)

func init() {
	sourceOpeners["ldap"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Source, error) {
		return ldap.Open(ctx, *cfg.Source.LDAP, log.Named("ldap"), ldap.TemplateGroups(templateGroups(cfg)...))
	}
}
