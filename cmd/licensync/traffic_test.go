package main

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/webex"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/graph"
	"github.com/licensync/licensync/sources/ldap"
	"github.com/licensync/licensync/sources/okta"
)

// The sources and the target that send requests count them.
var (
	_ trafficCounter = (*webex.Client)(nil)
	_ trafficCounter = (*ldap.Source)(nil)
	_ trafficCounter = (*graph.Source)(nil)
	_ trafficCounter = (*okta.Source)(nil)
)

// countingSource is a source of a kind the pass's wiring knows nothing of,
// beyond the one line that registers it.
type countingSource struct {
	pass.Source
	t licensing.Traffic
}

func (s countingSource) Traffic() licensing.Traffic { return s.t }

func TestAPassHandsOnTheTrafficOfAnySourceThatCountsIt(t *testing.T) {
	cfg, err := config.Load(copyDemo(t, clean), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := sourceOpeners["file"]
	t.Cleanup(func() { sourceOpeners["file"] = open })
	sourceOpeners["file"] = func(ctx context.Context, cfg *config.Config, log *zap.Logger) (pass.Source, error) {
		src, err := open(ctx, cfg, log)
		return countingSource{Source: src, t: licensing.Traffic{Requests: 7, Retries: 2, Throttled: 1}}, err
	}
	var got []string
	o := passOptions{mode: pass.PlanOnly, reportDir: t.TempDir(), log: zap.NewNop(),
		traffic: func(side string, requests, retries, throttled int64) {
			got = append(got, fmt.Sprintf("%s %d %d %d", side, requests, retries, throttled))
		}}
	if _, err := executePass(context.Background(), cfg, o, nil); err != nil {
		t.Fatal(err)
	}
	// The offline target sends no request and counts none.
	if want := []string{"source 7 2 1"}; !slices.Equal(got, want) {
		t.Fatalf("traffic handed on = %q, want %q", got, want)
	}
}
