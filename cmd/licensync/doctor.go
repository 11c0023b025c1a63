package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
	"github.com/licensync/licensync/sources/graph"
	"github.com/licensync/licensync/sources/ldap"
	"github.com/licensync/licensync/sources/okta"
)

func init() { commands = append(commands, doctorCmd) }

func doctorCmd(g *globals) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check every connection and permission the configuration needs",
		Long: `Check every connection and permission the configuration needs: the source and
the target are reached, bound to and probed for each right a pass uses; the
state store, the report directory and their free space are checked. One line
per check, ✓ or ✗, what was tried and the fix. Nothing is written anywhere: the
state store is opened read-only, no lock is taken, no report is written.

Exit status: 0 every check passed, 1 a check failed, 2 bad usage or configuration.`,
		Example: "  licensync doctor -c /etc/licensync/licensync.yaml\n  licensync doctor --format json | jq '.checks[] | select(.ok | not)'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return &exitError{exitUsage, fmt.Errorf("--format: %q is not text or json", format)}
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			checks := runDoctor(c.Context(), g, cfg)
			write := doctor.WriteText
			if format == "json" {
				write = doctor.WriteJSON
			}
			if err := write(c.OutOrStdout(), checks); err != nil {
				return err
			}
			if doctor.Failed(checks) {
				return &exitError{exitFailed, nil}
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "text", "text or json")
	return c
}

// A sourceDoctor or targetDoctor probes what a pass needs of its side; a
// target also returns the organisation it could read, for the templates to
// be checked against.
type (
	sourceDoctor func(ctx context.Context, cfg *config.Config) []doctor.Check
	targetDoctor func(ctx context.Context, cfg *config.Config) ([]doctor.Check, *licensing.Org)
)

var (
	sourceDoctors = map[string]sourceDoctor{
		"file": func(ctx context.Context, cfg *config.Config) []doctor.Check {
			return file.Doctor(ctx, cfg.Source.File.Path)
		},
		"graph": func(ctx context.Context, cfg *config.Config) []doctor.Check {
			return graph.Doctor(ctx, *cfg.Source.Graph, templateGroups(cfg))
		},
		"okta": func(ctx context.Context, cfg *config.Config) []doctor.Check {
			return okta.Doctor(ctx, *cfg.Source.Okta, templateGroups(cfg))
		},
		"ldap": func(ctx context.Context, cfg *config.Config) []doctor.Check {
			return ldap.Doctor(ctx, *cfg.Source.LDAP, templateGroups(cfg))
		},
	}
	targetDoctors = map[string]targetDoctor{
		"offline": func(ctx context.Context, cfg *config.Config) ([]doctor.Check, *licensing.Org) {
			return offline.Doctor(ctx, cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
		},
		"webex": func(ctx context.Context, cfg *config.Config) ([]doctor.Check, *licensing.Org) {
			c, err := webexClient(cfg, zap.NewNop())
			if err != nil {
				return []doctor.Check{doctor.Fail("webex client", "build the client from target.webex", err.Error(), "check target.webex")}, nil
			}
			defer c.Close()
			return c.Doctor(ctx)
		},
	}
)

// runDoctor runs every check the configuration calls for, in the order a
// pass meets them: configuration, source, target, templates, local files.
func runDoctor(ctx context.Context, g *globals, cfg *config.Config) []doctor.Check {
	checks := []doctor.Check{doctor.Pass("configuration", "load "+cfg.File,
		fmt.Sprintf("valid (source %s, target %s, %d template(s))", cfg.Source.Kind, cfg.Target.Kind, len(cfg.Templates)))}
	if probe, ok := sourceDoctors[cfg.Source.Kind]; ok {
		checks = append(checks, probe(ctx, cfg)...)
	} else {
		checks = append(checks, doctor.Unknown("source", "source kind "+cfg.Source.Kind, "doctor has no checks for this kind", ""))
	}
	if probe, ok := targetDoctors[cfg.Target.Kind]; ok {
		tc, org := probe(ctx, cfg)
		checks = append(checks, tc...)
		if org != nil {
			checks = append(checks, templateChecks(cfg.Policy(), org)...)
		}
	} else {
		checks = append(checks, doctor.Unknown("target", "target kind "+cfg.Target.Kind, "doctor has no checks for this kind", ""))
	}
	checks = append(checks, pass.DoctorState(ctx, stateOf(cfg))...)
	reports := cfg.ReportDir
	if g.reportDir != "" {
		reports = g.reportDir
	}
	return append(checks,
		doctor.WritableDir("report directory", reports),
		doctor.FreeSpace("report disk space", reports, doctor.MinFreeBytes))
}

// templateChecks checks the templates against the organisation: each
// licence a template names exists, is active and has a free unit, and at
// least one location can carry Calling users.
func templateChecks(p *licensing.Policy, org *licensing.Org) []doctor.Check {
	var checks []doctor.Check
	for i := range p.Templates {
		t := &p.Templates[i]
		for _, ref := range t.Licences {
			name := fmt.Sprintf("template %q licence", t.Name)
			tried := "look up " + ref.String() + " among the organisation's licences"
			lics, miss := licensing.ResolveLicences(&licensing.Template{Name: t.Name, Licences: []licensing.LicenceRef{ref}}, org)
			switch {
			case miss != "":
				checks = append(checks, doctor.Fail(name, tried, miss, "name a licence and subscription the organisation holds (see its licences in Control Hub)"))
			case lics[0].Status != "" && lics[0].Status != licensing.StatusActive:
				checks = append(checks, doctor.Fail(name, tried, fmt.Sprintf("%s (%s) is in subscription %s, which is %s", lics[0].Name, lics[0].ID, lics[0].SubscriptionID, lics[0].Status),
					"renew the subscription or point the template at an active one"))
			case lics[0].Free() <= 0:
				checks = append(checks, doctor.Fail(name, tried, fmt.Sprintf("%s (%s) in subscription %s has no free unit (%d of %d used)", lics[0].Name, lics[0].ID, lics[0].SubscriptionID, lics[0].ConsumedUnits, lics[0].TotalUnits),
					"buy units or free some in that subscription"))
			default:
				checks = append(checks, doctor.Pass(name, tried, fmt.Sprintf("%s (%s) in subscription %s, %d unit(s) free", lics[0].Name, lics[0].ID, lics[0].SubscriptionID, lics[0].Free())))
			}
		}
	}
	var calling []string
	for _, l := range org.Locations {
		if l.CallingEnabled {
			calling = append(calling, l.Name)
		}
	}
	slices.Sort(calling)
	tried := fmt.Sprintf("look for a Calling-enabled location among %d", len(org.Locations))
	if len(calling) == 0 {
		return append(checks, doctor.Fail("calling location", tried, "no location has Calling enabled", "enable Calling on the locations that own the users' numbers (Control Hub > Calling > Locations)"))
	}
	return append(checks, doctor.Pass("calling location", tried, fmt.Sprintf("%d location(s) with Calling, e.g. %s", len(calling), calling[0])))
}
