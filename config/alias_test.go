package config

import (
	"errors"
	"strings"
	"testing"
)

// aliasBomb is a small file whose aliases expand to groups*templates values:
// one group list of groups entries, all aliases of one name, in a template
// that is repeated templates times by alias.
func aliasBomb(groups, templates int) string {
	var b strings.Builder
	b.WriteString("source: {kind: file, file: {path: users.csv}}\ntemplates:\n  - &t\n    name: staff\n    licenses: [{id: L1}]\n    groups: [&g lol")
	for range groups - 1 {
		b.WriteString(", *g")
	}
	b.WriteString("]\n")
	for range templates - 1 {
		b.WriteString("  - *t\n")
	}
	return b.String()
}

func TestAliasesThatExpandFarBeyondTheFileAreRefused(t *testing.T) {
	y := aliasBomb(5000, 5000) // 25 million values from 50 KB
	_, err := Parse("/x/licensync.yaml", []byte(y), env(nil))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want configuration errors", err)
	}
	if len(errs.List) != 1 || !strings.HasPrefix(errs.List[0].Path, "templates[") || !strings.Contains(errs.List[0].Msg, "excessive aliasing") {
		t.Fatalf("%d errors (first: %v), want one error at a templates path naming excessive aliasing", len(errs.List), errs.List[0])
	}
}

func TestAliasesAreReadWhereTheyExpandModestly(t *testing.T) {
	tests := []struct {
		name              string
		groups, templates int
	}{
		{"a template repeated by alias is read", 3, 2},
		{"a group list shared by twenty templates is read", 200, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/x/licensync.yaml", []byte(aliasBomb(tc.groups, tc.templates)), env(nil))
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want the duplicate template names refused", err)
			}
			for _, e := range errs.List {
				if !strings.HasSuffix(e.Path, ".name") || !strings.Contains(e.Msg, "used by an earlier template") {
					t.Fatalf("errors = %v, want only the repeated template names", errs.List)
				}
			}
			if len(errs.List) != tc.templates-1 {
				t.Fatalf("%d errors, want %d (one per repeated template): %v", len(errs.List), tc.templates-1, errs.List)
			}
		})
	}
}

func TestAnAnchorThatContainsItsOwnAliasEndsWithAnError(t *testing.T) {
	y := "source: {kind: file, file: {path: users.csv}}\ntemplates: &t [*t]\n"
	_, err := Parse("/x/licensync.yaml", []byte(y), env(nil))
	if err == nil || !strings.Contains(err.Error(), "templates[0]") {
		t.Fatalf("err = %v, want the self-referring entry named", err)
	}
}
