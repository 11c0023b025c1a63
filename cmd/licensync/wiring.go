package main

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	licsync "github.com/licensync/licensync/sync"
)

// An opener builds a source or target from the loaded configuration. Each
// kind registers its opener from its own file (source_<kind>.go,
// target_<kind>.go), so the binary's wiring is one map lookup.
type (
	sourceOpener func(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Source, error)
	targetOpener func(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Target, error)
)

var (
	sourceOpeners = map[string]sourceOpener{}
	targetOpeners = map[string]targetOpener{}
)

func openSource(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Source, error) {
	open, ok := sourceOpeners[cfg.Source.Kind]
	if !ok {
		return nil, fmt.Errorf("source kind %q is not built into this binary", cfg.Source.Kind)
	}
	return open(ctx, cfg, log)
}

func openTarget(ctx context.Context, cfg *config.Config, log *zap.Logger) (licsync.Target, error) {
	open, ok := targetOpeners[cfg.Target.Kind]
	if !ok {
		return nil, fmt.Errorf("target kind %q is not built into this binary", cfg.Target.Kind)
	}
	return open(ctx, cfg, log)
}

// stateOf names the configuration's state store. A PostgreSQL store keeps
// its work files beside the report folder, on this machine.
func stateOf(cfg *config.Config) licsync.StateConfig {
	return licsync.StateConfig{State: cfg.State, Password: cfg.StatePassword.Value(), WorkDir: filepath.Dir(cfg.ReportDir)}
}

// openState opens the configuration's state store, SQLite or PostgreSQL.
func openState(ctx context.Context, cfg *config.Config) (*licsync.Store, error) {
	return licsync.Open(ctx, stateOf(cfg))
}

// lockState takes the instance lock of the configuration's state store.
func lockState(ctx context.Context, cfg *config.Config) (func() error, error) {
	return licsync.LockState(ctx, stateOf(cfg))
}

// templateGroups are the groups the templates match users on, as they name
// them.
func templateGroups(cfg *config.Config) []string {
	var groups []string
	for _, t := range cfg.Templates {
		groups = append(groups, t.Groups...)
	}
	return groups
}
