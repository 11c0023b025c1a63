package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/graph"
)

func init() {
	sourceOpeners["graph"] = func(_ context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		// The source reports memberships of the groups templates match on.
		return graph.Open(*cfg.Source.Graph, templateGroups(cfg), log.Named("graph"))
	}
}
