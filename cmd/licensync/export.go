package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/controlhub"
	licsync "github.com/licensync/licensync/sync"
)

// exportControlHubCSV is the one format plan --export writes: a Control Hub
// bulk-licence import of the plan's changes.
const exportControlHubCSV = "controlhub-csv"

// exportArgs checks plan's arguments: none, or with --export the one file
// to write.
func exportArgs(export *string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if *export == "" {
			return cobra.NoArgs(c, args)
		}
		if *export != exportControlHubCSV {
			return &exitError{exitUsage, fmt.Errorf("--export: %q is not %s", *export, exportControlHubCSV)}
		}
		if len(args) != 1 {
			return &exitError{exitUsage, fmt.Errorf("--export %s writes one file: licensync plan --export %s FILE", exportControlHubCSV, exportControlHubCSV)}
		}
		return nil
	}
}

// exportPlan writes the changes a plan decided as a Control Hub
// bulk-licence CSV. The plan's report carries each decision but not the
// change itself, so each WOULD_PROVISION user is decided again against the
// target as it is now and must come out the same (controlhub.Replan).
func exportPlan(ctx context.Context, g *globals, cfg *config.Config, res *licsync.Result, file string, stdout, stderr io.Writer) error {
	var planned []controlhub.Reported
	err := eachReportRow(filepath.Join(res.ReportDir, "report.json"), func(r *licsync.Row) error {
		if r.Outcome == string(licensing.WouldProvision) {
			var lics []string
			if r.Licenses != "" {
				lics = strings.Split(r.Licenses, ";")
			}
			planned = append(planned, controlhub.Reported{SourceID: r.SourceID, Email: r.Email, DisplayName: r.DisplayName,
				WorkPhone: r.WorkPhone, E164: r.E164, Detail: r.Detail, Licences: lics})
		}
		return nil
	})
	if err != nil {
		return err
	}
	log, err := newLogger(g, stderr)
	if err != nil {
		return err
	}
	tgt, err := openTarget(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("target %s: %w", cfg.Target.Kind, err)
	}
	defer tgt.Close()
	org, err := tgt.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("target snapshot: %w", err)
	}
	policy := cfg.Policy()
	plan := make([]controlhub.Planned, 0, len(planned))
	step := max(cfg.Apply.BatchSize, 1)
	for lo := 0; lo < len(planned); lo += step {
		chunk := planned[lo:min(lo+step, len(planned))]
		emails := make([]string, len(chunk))
		for i, r := range chunk {
			emails[i] = r.Email
		}
		people, err := tgt.People(ctx, emails)
		if err != nil {
			return fmt.Errorf("target people: %w", err)
		}
		for _, r := range chunk {
			var person *licensing.Person
			if p, ok := people[strings.ToLower(r.Email)]; ok {
				person = &p
			}
			p, err := controlhub.Replan(policy, org, r, person)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			plan = append(plan, p)
		}
	}
	allow := policy.Removals.Acknowledge && res.Summary.Refusal == ""
	var out *controlhub.BulkResult
	err = writeFile(file, func(w io.Writer) error {
		var err error
		out, err = controlhub.WriteBulk(w, org, plan, controlhub.BulkOptions{AllowRemovals: allow})
		return err
	})
	if err != nil {
		return err
	}
	notes := importNotes(res.Run.ID, file, out)
	notesFile := strings.TrimSuffix(file, filepath.Ext(file)) + ".import.txt"
	if err := writeFile(notesFile, func(w io.Writer) error { _, err := io.WriteString(w, notes); return err }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s: %d user row(s); import it in Control Hub with %q", exportControlHubCSV, file, out.Rows, out.Mode)
	if len(out.LeftOut) > 0 {
		fmt.Fprintf(stdout, "; %d change(s) left out", len(out.LeftOut))
	}
	fmt.Fprintf(stdout, "; notes in %s\n", notesFile)
	for _, w := range out.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}

// importNotes is the text that travels with a bulk file: the import mode to
// choose, the warnings and what was left out.
func importNotes(runID, file string, r *controlhub.BulkResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "licensync plan %s: %s holds %d user row(s) for Control Hub's CSV import.\n\n", runID, filepath.Base(file), r.Rows)
	fmt.Fprintf(&b, "Import it in Control Hub (Users > Manage users by CSV > Import) choosing: %s\n", r.Mode)
	if r.Mode == controlhub.AddAndRemoveServices {
		fmt.Fprintf(&b, "%d row(s) take a licence away (FALSE cells), as the acknowledged plan says.\n", r.Removing)
	} else {
		b.WriteString("No row takes a licence away.\n")
	}
	b.WriteString("Open the file in a text editor, not a spreadsheet: a spreadsheet removes the '+' of the phone numbers.\n")
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "\nWarning: %s\n", w)
	}
	if len(r.LeftOut) > 0 {
		fmt.Fprintf(&b, "\nLeft out (%d), for licensync run or Control Hub by hand:\n", len(r.LeftOut))
		left := slices.Clone(r.LeftOut)
		slices.SortStableFunc(left, func(a, b controlhub.LeftOut) int { return strings.Compare(a.Email, b.Email) })
		for _, l := range left {
			fmt.Fprintf(&b, "  %s: %s\n", l.Email, l.Reason)
		}
	}
	return b.String()
}
