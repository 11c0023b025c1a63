package main

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
)

// consoleOptions wires the help-desk console to the running configuration
// (read at each request, so a reload applies) and to the console's own
// handle on the state store.
func consoleOptions(cur *atomic.Pointer[config.Config], store *pass.Store, log *zap.Logger) *console.Options {
	cfg := cur.Load()
	if host, _, _ := net.SplitHostPort(cfg.Daemon.Listen); !config.IsLoopback(host) && cfg.Daemon.Console.Htpasswd == "" && cfg.Daemon.Console.TrustedHeader == "" {
		log.Warn("the console listens off loopback with no sign-in configured: it refuses every request until daemon.console.htpasswd or daemon.console.trusted_header is set",
			zap.String("listen", cfg.Daemon.Listen))
	}
	return &console.Options{
		Store:     store,
		ReportDir: func() string { return cur.Load().ReportDir },
		// A listen address is only taken on start, like the listener.
		Listen: cfg.Daemon.Listen,
		Access: func() console.Access {
			c := &cur.Load().Daemon.Console
			return console.Access{Users: c.Users(), TrustedHeader: c.TrustedHeader, TrustedProxies: c.Proxies()}
		},
		Live: func(ctx context.Context) (*licensing.Policy, pass.Target, error) {
			c := cur.Load()
			tgt, err := openTarget(ctx, c, log)
			if err != nil {
				return nil, nil, fmt.Errorf("target %s: %w", c.Target.Kind, err)
			}
			return c.Policy(), tgt, nil
		},
		Source: func(ctx context.Context) (pass.Source, error) {
			c := cur.Load()
			src, err := openSource(ctx, c, log)
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", c.Source.Kind, err)
			}
			return src, nil
		},
		Location: cfg.Daemon.Location(),
		Log:      log,
	}
}
