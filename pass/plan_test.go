package pass

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

// TestTheExportIsHandedThePlansOwnChanges exports the demo's plan and
// compares what the export was handed with the plan's report: each
// WOULD_PROVISION user with the licences of its change, nothing else, and
// the licences each person held when decided.
func TestTheExportIsHandedThePlansOwnChanges(t *testing.T) {
	d := newDemo(t)
	var handed []string
	holds := map[string][]string{}
	res, err := d.run(PlanOnly, "PLAN-1", func(o *Options) {
		o.Export = func(p *Plan) error {
			if p.RunID != "PLAN-1" || p.Org == nil || p.Refusal != nil {
				t.Errorf("the export was handed run %q, org %v, refusal %v", p.RunID, p.Org != nil, p.Refusal)
			}
			return p.Each(4, func(batch []PlanEntry) error {
				for _, e := range batch {
					if c := e.Decision.Change; c != nil {
						handed = append(handed, c.Email+" "+strings.Join(c.Licences, ";"))
						holds[c.Email] = e.Holds
					}
				}
				return nil
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(res.ReportDir, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, r := range recs[1:] {
		if r[5] == string(licensing.WouldProvision) {
			planned = append(planned, r[1]+" "+r[10])
		}
	}
	if len(planned) == 0 || !slices.Equal(handed, planned) {
		t.Fatalf("the export was handed %q\nthe plan reports    %q", handed, planned)
	}
	if h, ok := holds["user01@corp.example"]; !ok || len(h) != 0 {
		t.Fatalf("user01 holds nothing before the plan; the export was told %q", h)
	}
}

func TestAPlanIsAppliedOrExportedNeverBoth(t *testing.T) {
	d := newDemo(t)
	exported := 0
	export := func(o *Options) { o.Export = func(*Plan) error { exported++; return nil } }
	if _, err := d.run(Apply, "RUN-1", export); err == nil || !strings.Contains(err.Error(), "applied or exported, not both") {
		t.Fatalf("a run with an export: %v", err)
	}
	if n, _ := d.org.Writes(context.Background()); n != 0 || exported != 0 {
		t.Fatalf("a run with an export made %d writes and %d exports", n, exported)
	}
	if _, err := d.run(PlanOnly, "PLAN-1", export); err != nil || exported != 1 {
		t.Fatalf("a plan with an export: %v, exported %d times", err, exported)
	}
}
