package main

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing/webex"
	"github.com/licensync/licensync/pass"
)

func init() {
	targetOpeners["webex"] = func(_ context.Context, cfg *config.Config, log *zap.Logger) (pass.Target, error) {
		c, err := webexClient(cfg, log)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
}

// webexClient builds the Webex target's client from the configuration.
func webexClient(cfg *config.Config, log *zap.Logger) (*webex.Client, error) {
	w := cfg.Target.Webex
	if w == nil {
		return nil, errors.New("target.webex is not configured")
	}
	return webex.New(webex.Options{
		BaseURL:      w.BaseURL,
		Token:        w.Token.Value(),
		RefreshToken: w.RefreshToken.Value(),
		ClientID:     w.ClientID,
		ClientSecret: w.ClientSecret.Value(),
		OrgID:        w.OrgID,
		Rate:         w.Rate,
		Concurrency:  w.Concurrency,
		Timeout:      w.Timeout.D(),
		Logger:       log.Named("webex"),
	})
}
