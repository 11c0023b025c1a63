package main

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon"
)

// An opener builds a source or target from the loaded configuration. Each
// kind registers its opener from its own file (source_<kind>.go,
// target_<kind>.go), so the binary's wiring is one map lookup.
type (
	sourceOpener func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error)
	targetOpener func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Target, error)
)

var (
	sourceOpeners = map[string]sourceOpener{}
	targetOpeners = map[string]targetOpener{}
)

func openSource(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
	open, ok := sourceOpeners[cfg.Source.Kind]
	if !ok {
		return nil, fmt.Errorf("source kind %q is not built into this binary", cfg.Source.Kind)
	}
	return open(ctx, cfg, log)
}

func openTarget(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Target, error) {
	open, ok := targetOpeners[cfg.Target.Kind]
	if !ok {
		return nil, fmt.Errorf("target kind %q is not built into this binary", cfg.Target.Kind)
	}
	return open(ctx, cfg, log)
}

// stateOf names the configuration's state store. A PostgreSQL store keeps
// its work files beside the report folder, on this machine; an
// organisation's of several, in its own report folder.
func stateOf(cfg *config.Config) pass.StateConfig {
	work := filepath.Dir(cfg.ReportDir)
	if cfg.StateSchema != "" {
		work = cfg.ReportDir
	}
	return pass.StateConfig{State: cfg.State, Password: cfg.StatePassword.Value(), WorkDir: work, Schema: cfg.StateSchema}
}

// openState opens the configuration's state store, SQLite or PostgreSQL.
func openState(ctx context.Context, cfg *config.Config) (*pass.Store, error) {
	return pass.Open(ctx, stateOf(cfg))
}

// lockState makes this process the one writer of the configuration's state
// store: the instance lock of a SQLite file; on PostgreSQL the store's
// instance lock and the organisation's lease, which serve replicas hold
// while they lead, so a one-shot command refuses beside a running service.
// The lease is kept renewed until release; ld is nil on SQLite.
func lockState(ctx context.Context, cfg *config.Config, log *zap.Logger) (release func() error, ld *leader, err error) {
	release, err = pass.LockState(ctx, stateOf(cfg))
	if err != nil || !cfg.StateIsPostgres() {
		return release, nil, err
	}
	unlock := release
	fail := func(err error) (func() error, *leader, error) {
		_ = unlock()
		return nil, nil, err
	}
	store, err := openState(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	if ld, err = newLeader(store, cfg.OrgName, replicaID(), cfg.Daemon.LeaseTTL.D(), log, daemon.NewLeadership([]string{cfg.OrgName}), func() {}); err != nil {
		store.Close()
		return fail(err)
	}
	got, err := ld.lease.Acquire(ctx)
	if err != nil || !got {
		store.Close()
		if err == nil {
			err = fmt.Errorf("instance lock: organisation %s of %s is led by another licensync (a serve replica): let it run the passes, or stop it first", cfg.OrgName, pass.RedactURL(cfg.State))
		}
		return fail(err)
	}
	ld.gain()
	keep, stop := context.WithCancel(context.Background())
	kept := make(chan struct{})
	go func() { ld.run(keep); close(kept) }()
	return func() error {
		stop()
		<-kept
		store.Close()
		return unlock()
	}, ld, nil
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
