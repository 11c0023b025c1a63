package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
)

func reportCmd(g *globals) *cobra.Command {
	var (
		unprovisioned bool
		format, runID string
		out           string
	)
	c := &cobra.Command{
		Use:   "report",
		Short: "Export users from the state store",
		Long: `Export users from the state store.

With --unprovisioned, the users whose latest decision is FAILED, whichever pass
made it; with --run ID as well, the users that pass failed. With --run ID
alone, the report that pass wrote. With neither, the latest decision of every
user.`,
		Example: "  licensync report --unprovisioned --format csv --out unprovisioned.csv",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "csv" && format != "json" && format != "html" {
				return &exitError{exitUsage, fmt.Errorf("--format: %q is not csv, json or html", format)}
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			store, err := openState(c.Context(), cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			if runID != "" {
				var unknown *pass.UnknownRunError
				if _, err := store.Run(c.Context(), runID); errors.As(err, &unknown) {
					return &exitError{exitUsage, fmt.Errorf("--run: %w", err)}
				}
			}
			w := c.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if runID != "" && !unprovisioned {
				// The whole report of a pass is the one it wrote; the store
				// keeps each pass's failures only.
				if _, err := store.Run(c.Context(), runID); err != nil {
					return err
				}
				saved := filepath.Join(cfg.ReportDir, filepath.Base(runID), "report."+format)
				f, err := os.Open(saved)
				if err != nil {
					return fmt.Errorf("the report of pass %s is no longer kept (%s); --unprovisioned exports its failures from the state store", runID, saved)
				}
				defer f.Close()
				_, err = io.Copy(w, f)
				return err
			}
			return exportReport(c.Context(), store, w, format, runID, unprovisioned)
		},
	}
	c.Flags().BoolVar(&unprovisioned, "unprovisioned", false, "only the users that failed")
	c.Flags().StringVar(&format, "format", "csv", "csv, json or html")
	c.Flags().StringVar(&runID, "run", "", "the pass to export (see 'licensync history'); default the latest")
	c.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	return c
}

func exportReport(ctx context.Context, store *pass.Store, w io.Writer, format, runID string, unprovisioned bool) error {
	run, err := store.Run(ctx, runID)
	if err != nil {
		return err
	}
	var rows []pass.Row
	collect := func(r pass.Row) error { rows = append(rows, r); return nil }
	switch {
	case runID != "" && unprovisioned:
		err = store.RunFailures(ctx, runID, collect)
	case unprovisioned:
		err = store.Rows(ctx, licensing.Failed, collect)
	default:
		err = store.Rows(ctx, "", collect)
	}
	if err != nil {
		return err
	}
	sum := pass.Summary{Users: len(rows), Outcomes: map[string]int{}, Causes: map[string]int{}}
	for _, r := range rows {
		sum.Outcomes[r.Outcome]++
		if r.Cause != "" {
			sum.Causes[r.Cause]++
		}
	}
	bw := bufio.NewWriter(w)
	switch format {
	case "csv":
		cw, err := pass.NewCSVWriter(bw)
		if err != nil {
			return err
		}
		for i := range rows {
			if err := cw.Write(&rows[i]); err != nil {
				return err
			}
		}
		if err := cw.Flush(); err != nil {
			return err
		}
	case "json":
		if err := pass.WriteJSON(bw, run, sum, rows); err != nil {
			return err
		}
	case "html":
		if err := pass.WriteHTML(bw, run, sum, rows, 0); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func historyCmd(g *globals) *cobra.Command {
	var limit int
	c := &cobra.Command{
		Use:   "history",
		Short: "List past passes with their counts",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			store, err := g.openStore(c.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			runs, err := store.Runs(c.Context(), limit)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "%-30s %-5s %-11s %-12s %7s %7s %7s\n", "RUN", "MODE", "KIND", "STATUS", "USERS", "APPLIED", "FAILED")
			for _, r := range runs {
				kind := "incremental"
				if r.Full {
					kind = "full"
				}
				applied := r.Summary.Outcomes[string(licensing.Provisioned)] + r.Summary.Outcomes[string(licensing.WouldProvision)]
				fmt.Fprintf(w, "%-30s %-5s %-11s %-12s %7d %7d %7d\n", r.ID, r.Mode, kind, r.Status, r.Summary.Users, applied, r.Summary.Outcomes[string(licensing.Failed)])
			}
			return nil
		},
	}
	c.Flags().IntVar(&limit, "limit", 20, "how many passes to list")
	return c
}

// openStore loads the configuration and opens its state store for reading.
func (g *globals) openStore(ctx context.Context) (*pass.Store, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	return openState(ctx, cfg)
}
