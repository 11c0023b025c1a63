// Command licensync licenses Webex Calling users straight from the directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries the process exit status a command wants.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit statuses: a pass that completed (per-user failures live in the
// report), a pass that could not complete, and bad usage or configuration.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// defaultMemoryLimit is the soft heap limit a pass runs under unless
// GOMEMLIMIT says otherwise. Live memory follows the number inventory (about
// 120 MiB at its peak for a million numbers and a million users); the limit
// makes the collector run before the heap doubles, which keeps a
// million-user pass under 256 MiB resident for a few seconds of CPU. Past
// the limit the runtime caps collector CPU at half, so a larger inventory
// slows down rather than fails.
const defaultMemoryLimit = 200 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command takes.
type globals struct {
	config    string
	reportDir string
	logLevel  string
	logFormat string
	org       string
}

// commands are the subcommands that register themselves from their own
// file, so a new one does not touch this one.
var commands []func(*globals) *cobra.Command

func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{}
	root := &cobra.Command{
		Use:   "licensync",
		Short: "License Webex Calling users straight from the directory",
		Long: `licensync reads users from the directory, validates each work phone as E.164,
checks the number against the calling inventory, resolves its location, applies
the calling licence template, and reports every user it could not provision with
the cause and the fix.

Exit status: 0 the pass completed (per-user failures are in the report),
1 the pass could not complete, 2 bad usage or configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{exitUsage, fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	defCfg := "licensync.yaml"
	if env := os.Getenv("LICENSYNC_CONFIG"); env != "" {
		defCfg = env
	}
	pf.StringVarP(&g.config, "config", "c", defCfg, "configuration file ($LICENSYNC_CONFIG overrides the default)")
	pf.StringVar(&g.reportDir, "report-dir", "", "write this pass's reports into this folder (default: report_dir/<run id>/ and report_dir/latest/)")
	pf.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "", "console or json (default: console on a terminal, json otherwise)")
	pf.StringVar(&g.org, "org", "", "the organisation to act on, by its name in orgs: (required when the configuration lists several)")

	root.AddCommand(
		validateCmd(g), passCmd(g, "plan"), passCmd(g, "run"), passCmd(g, "check"),
		reportCmd(g), historyCmd(g),
		serveCmd(g),
	)
	for _, cmd := range commands {
		root.AddCommand(cmd(g))
	}
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(c *cobra.Command, _ []string) { fmt.Fprintln(c.OutOrStdout(), "licensync", version) },
		},
	)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "licensync:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "licensync:", err)
	if isUsage(err) {
		return exitUsage
	}
	return exitFailed
}

// isUsage tells cobra's own argument errors from failures.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// loadAll reads the configuration with every organisation; every failure
// is a usage error (exit 2).
func (g *globals) loadAll() (*config.Config, error) {
	cfg, err := config.Load(g.config, config.Options{})
	if err != nil {
		return nil, &exitError{exitUsage, err}
	}
	return cfg, nil
}

// load reads the configuration of the organisation --org names, which may
// be left out when there is one; an unknown name is a usage error that
// lists the organisations.
func (g *globals) load() (*config.Config, error) {
	cfg, err := g.loadAll()
	if err != nil {
		return nil, err
	}
	names := strings.Join(cfg.OrgNames(), ", ")
	if g.org == "" {
		if orgs := cfg.Orgs(); len(orgs) == 1 {
			return orgs[0].Config, nil
		}
		return nil, &exitError{exitUsage, fmt.Errorf("--org is required: %s lists %d organisations: %s", cfg.File, len(cfg.Orgs()), names)}
	}
	o, ok := cfg.FindOrg(g.org)
	if !ok {
		return nil, &exitError{exitUsage, fmt.Errorf("--org: %q is not an organisation of %s; it lists: %s", g.org, cfg.File, names)}
	}
	return o.Config, nil
}

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and exit",
		Long:  "Load the configuration, expand its ${ENV} and file: references, and report every problem with its field path.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadAll()
			if err != nil {
				return err
			}
			if !cfg.MultiOrg() {
				fmt.Fprintf(c.OutOrStdout(), "%s: valid (source %s, target %s, %d template(s))\n", cfg.File, cfg.Source.Kind, cfg.Target.Kind, len(cfg.Templates))
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: valid, %d organisations\n", cfg.File, len(cfg.Orgs()))
			for _, o := range cfg.Orgs() {
				fmt.Fprintf(c.OutOrStdout(), "  %s: source %s, target %s, %d template(s)\n", o.Name, o.Source.Kind, o.Target.Kind, len(o.Templates))
			}
			return nil
		},
	}
}
