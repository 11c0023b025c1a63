package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// pagesOnly is a source that can only stream the directory, like a source
// without UserByID.
type pagesOnly struct{ pass.Source }

// fileSource is a file source on path, without UserByID unless byID.
func fileSource(path string, byID bool) pass.Source {
	if byID {
		return file.New(path, nil)
	}
	return pagesOnly{file.New(path, nil)}
}

// checkUser asks the console's API to check id now.
func checkUser(t *testing.T, c *Console, id string) *CheckResult {
	t.Helper()
	w := get(t, c, "/api/v1/users/"+id+"/check")
	var got User
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Check == nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	return got.Check
}

func TestCheckNowDecidesOnTheDirectoryAsItIsNowAndWritesNothing(t *testing.T) {
	d := newDemo(t, nil)
	// u11 holds its licence on +12125550111; since that pass the directory lost
	// the number.
	csv, err := os.ReadFile(d.cfg.Source.File.Path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(csv), "u11,user11@corp.example,Demo User 11,+12125550111,", "u11,user11@corp.example,Demo User 11,,", 1)
	if edited == string(csv) {
		t.Fatal("the demo directory has no u11 row to edit")
	}
	if err := os.WriteFile(d.cfg.Source.File.Path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := d.store.User(t.Context(), "u11")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := d.store.Runs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	orgDB := filepath.Join(filepath.Dir(d.cfg.State), "org.db")
	org, err := os.ReadFile(orgDB)
	if err != nil {
		t.Fatal(err)
	}
	c := d.console(t, "127.0.0.1:9431")

	got := checkUser(t, c, "u11")
	if got.RecordFrom != FromDirectory || got.Record == nil || got.Record.WorkPhone != "" {
		t.Fatalf("decided on a %s record %+v, want the directory's, without the number", got.RecordFrom, got.Record)
	}
	if got.Outcome != licensing.Failed || got.Cause != licensing.CauseNoWorkPhone || got.Same {
		t.Fatalf("check now: %s/%s same=%v, want FAILED/%s, not the last pass's decision", got.Outcome, got.Cause, got.Same, licensing.CauseNoWorkPhone)
	}
	for _, n := range got.Notes {
		if strings.Contains(n, "state store kept") {
			t.Fatalf("a check on the directory's record carries the stored-record note: %q", n)
		}
	}
	page := get(t, c, "/users/u11/check").Body.String()
	mustContain(t, page, "read from the directory just now", `id="check-phone">(empty)`, string(licensing.CauseNoWorkPhone))

	after, err := d.store.User(t.Context(), "u11")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) || before.Outcome != string(licensing.AlreadyProvisioned) {
		t.Fatalf("the stored user changed or was not licensed: before %+v, after %+v", before, after)
	}
	runsAfter, err := d.store.Runs(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(runsAfter, runs) {
		t.Fatalf("passes after the check: %d, before: %d", len(runsAfter), len(runs))
	}
	if orgAfter, err := os.ReadFile(orgDB); err != nil || !bytes.Equal(orgAfter, org) {
		t.Fatalf("the organisation's database changed during the check (%v)", err)
	}
}

func TestCheckNowFallsBackToTheStoredRecordSayingWhy(t *testing.T) {
	tests := []struct {
		name   string
		source func(d *demo) func(context.Context) (pass.Source, error)
		want   string
	}{
		{"when the source cannot be opened", func(*demo) func(context.Context) (pass.Source, error) {
			return func(context.Context) (pass.Source, error) {
				return nil, errors.New("ldap: dial ldaps://dc1.corp.example:636: connection refused")
			}
		}, "the directory could not be reached: ldap: dial ldaps://dc1.corp.example:636: connection refused"},
		{"when the source cannot be read", func(d *demo) func(context.Context) (pass.Source, error) {
			return func(context.Context) (pass.Source, error) {
				return fileSource(filepath.Join(filepath.Dir(d.cfg.State), "missing.csv"), true), nil
			}
		}, "the directory could not be read: file source: open"},
		{"when the source cannot read one user", func(d *demo) func(context.Context) (pass.Source, error) {
			return func(context.Context) (pass.Source, error) { return fileSource(d.cfg.Source.File.Path, false), nil }
		}, "this service's source cannot read one user by id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t, nil)
			o := d.options("127.0.0.1:9431")
			o.Source = tc.source(d)
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			got := checkUser(t, c, "u16")
			if got.RecordFrom != FromStore || !strings.HasPrefix(got.StoredBecause, tc.want) || got.Record == nil || got.Record.ID != "u16" {
				t.Fatalf("decided on a %s record (%q), want the stored one because %q", got.RecordFrom, got.StoredBecause, tc.want)
			}
			if !got.Same || got.Cause != licensing.CauseNoWorkPhone || len(got.Notes) == 0 || got.Notes[0] != storedRecordNote {
				t.Fatalf("check now on the stored record: %s/%s same=%v notes %q", got.Outcome, got.Cause, got.Same, got.Notes)
			}
			mustContain(t, get(t, c, "/users/u16/check").Body.String(), html.EscapeString("Decided on the stored record, because "+tc.want))
		})
	}
}

func TestCheckNowSaysAUserIsNoLongerInTheDirectory(t *testing.T) {
	d := newDemo(t, nil)
	csv, err := os.ReadFile(d.cfg.Source.File.Path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(csv), "\n") {
		if !strings.HasPrefix(l, "u11,") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(d.cfg.Source.File.Path, []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	c := d.console(t, "127.0.0.1:9431")
	got := checkUser(t, c, "u11")
	if !got.Gone || got.Outcome != "" || len(got.Checks) != 0 || got.Record != nil {
		t.Fatalf("check now on a user the directory lost: %+v", got)
	}
	mustContain(t, get(t, c, "/users/u11/check").Body.String(), "No longer in the directory")
}
