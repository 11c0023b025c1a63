package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/licensync/licensync/licensing/controlhub"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/pass/daemon/console"
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

// exporter writes the changes of a plan pass's Plan as a Control Hub
// bulk-licence CSV, with its import notes beside it. It writes what the
// plan decided and decides nothing again.
type exporter struct {
	file string
	// reportDir, when set, puts the file in the plan pass's report folder
	// under it instead (console.PlanExportFile), as serve does for the
	// console's Downloads page.
	reportDir string
	// acknowledge is removals.acknowledge: without it, or when the guard
	// refuses the plan, no row takes a licence away.
	acknowledge bool
	batch       int
	out         *controlhub.BulkResult
	notes       string
}

// consume is the pass's consumer of its plan; nil without --export.
func (e *exporter) consume() func(*pass.Plan) error {
	if e == nil {
		return nil
	}
	return e.write
}

func (e *exporter) write(p *pass.Plan) error {
	var planned []controlhub.Planned
	err := p.Each(max(e.batch, 1), func(batch []pass.PlanEntry) error {
		for i := range batch {
			if c := batch[i].Decision.Change; c != nil {
				planned = append(planned, controlhub.Planned{Change: *c, LocationName: batch[i].Decision.LocationName, Holds: batch[i].Holds})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	allow := e.acknowledge && p.Refusal == nil
	if e.reportDir != "" {
		dir := filepath.Join(e.reportDir, p.RunID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		e.file = filepath.Join(dir, console.PlanExportFile)
	}
	err = writeFile(e.file, func(w io.Writer) error {
		var err error
		e.out, err = controlhub.WriteBulk(w, p.Org, planned, controlhub.BulkOptions{AllowRemovals: allow})
		return err
	})
	if err != nil {
		return err
	}
	e.notes = strings.TrimSuffix(e.file, filepath.Ext(e.file)) + ".import.txt"
	notes := importNotes(p.RunID, e.file, e.out)
	return writeFile(e.notes, func(w io.Writer) error { _, err := io.WriteString(w, notes); return err })
}

// tell says on stdout what the export wrote, after the pass's summary.
func (e *exporter) tell(stdout io.Writer) {
	if e == nil || e.out == nil {
		return
	}
	fmt.Fprintf(stdout, "%s: %s: %d user row(s); import it in Control Hub with %q", exportControlHubCSV, e.file, e.out.Rows, e.out.Mode)
	if len(e.out.LeftOut) > 0 {
		fmt.Fprintf(stdout, "; %d change(s) left out", len(e.out.LeftOut))
	}
	fmt.Fprintf(stdout, "; notes in %s\n", e.notes)
	for _, w := range e.out.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
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
