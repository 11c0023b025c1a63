package sync

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/sources/file"
)

// stored returns the state store's latest decisions by source id.
func stored(t *testing.T, s *Store) map[string]Row {
	t.Helper()
	out := map[string]Row{}
	if err := s.Rows(context.Background(), "", func(r Row) error { out[r.SourceID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// editDirectory rewrites the demo directory: each line that starts with a
// key of lines is replaced by its value ("" drops the line).
func (d *demo) editDirectory(t *testing.T, lines map[string]string) {
	t.Helper()
	path := d.cfg.Source.File.Path
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		for prefix, repl := range lines {
			if strings.HasPrefix(l, prefix) {
				l = repl
				if repl != "" {
					l += "\n"
				}
			}
		}
		out = append(out, l)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logged runs a pass with its log observed.
func (d *demo) logged(mode Mode, id string) (*Result, *observer.ObservedLogs, error) {
	core, logs := observer.New(zap.InfoLevel)
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	res, err := Execute(context.Background(), Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: mode, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 7, Workers: 2,
		Now: func() time.Time { return clock }, RunID: id, Log: zap.New(core),
	})
	return res, logs, err
}

func TestAPassWithABrokenRowForgetsNobody(t *testing.T) {
	tests := []struct {
		name string
		// broken replaces one user's row; u34 leaves the directory too.
		broken, id, detail string
	}{
		{"an unterminated quote", `u20,user20@corp.example,"Demo User 20,+999 1234567,true,Calling Users`, "u20",
			`line 21: a quote opened on this line is not closed on it`},
		{"a bad enabled value", "u05,user05@corp.example,Demo User 05,+1 212 555 0105,maybe,Calling Users", "u05",
			`line 6: enabled is "maybe", want true or false`},
		{"a field too many", "u07,user07@corp.example,Demo, User 07,+1 212 555 0107,true,Calling Users", "u07",
			"line 8: has 7 fields, the header has 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t)
			d.pass(t, Apply, "RUN-1")
			before := stored(t, d.store)
			if len(before) != 34 {
				t.Fatalf("the first pass stored %d users, want 34", len(before))
			}
			d.editDirectory(t, map[string]string{tc.id + ",": tc.broken, "u34,": ""})
			res, logs, err := d.logged(Apply, "RUN-2")
			if err != nil {
				t.Fatal(err)
			}
			after := stored(t, d.store)
			if len(after) != 34 {
				t.Fatalf("after a pass with a broken row the store holds %d users, want all 34", len(after))
			}
			if r := after[tc.id]; r.Outcome != string(licensing.Failed) || r.Cause != string(licensing.CauseUnreadableRecord) || !strings.HasPrefix(r.Detail, tc.detail) {
				t.Fatalf("%s = %+v, want FAILED %s %q", tc.id, r, licensing.CauseUnreadableRecord, tc.detail)
			}
			if after["u34"] != before["u34"] {
				t.Fatalf("u34, gone from the directory, changed to %+v though the pass could not read every record", after["u34"])
			}
			if res.Summary.Users != 33 {
				t.Fatalf("the pass decided %d users, want the 33 rows", res.Summary.Users)
			}
			if w := logs.FilterMessageSnippet("no user is forgotten this pass").All(); len(w) != 1 || w[0].ContextMap()["unreadable"] != int64(1) {
				t.Fatalf("the pass did not log why it forgot nobody: %v", logs.All())
			}

			// Once the row is fixed, the next pass forgets the user who left.
			d.editDirectory(t, map[string]string{tc.id + ",": strings.Join([]string{before[tc.id].SourceID, before[tc.id].Email, before[tc.id].DisplayName, before[tc.id].WorkPhone, "true", "Calling Users"}, ",")})
			d.pass(t, Apply, "RUN-3")
			if final := stored(t, d.store); len(final) != 33 || final["u34"].SourceID != "" {
				t.Fatalf("after a clean pass the store holds %d users (u34 %+v), want 33 without u34", len(final), final["u34"])
			}
		})
	}
}

func TestARowWithoutAnIDFailsThePassBeforeAnythingIsWritten(t *testing.T) {
	d := newDemo(t)
	d.editDirectory(t, map[string]string{"u20,": ",user20@corp.example,Demo User 20,+999 1234567,true,Calling Users"})
	_, err := d.try(Apply, "RUN-1")
	if err == nil || !strings.Contains(err.Error(), "directory.csv:21: id is empty") {
		t.Fatalf("err = %v, want the pass stopped naming the file and line", err)
	}
	ctx := context.Background()
	if n, _ := d.org.Writes(ctx); n != 0 {
		t.Fatalf("the failed pass made %d writes", n)
	}
	if n := len(stored(t, d.store)); n != 0 {
		t.Fatalf("the failed pass recorded %d users", n)
	}
	if r, _ := d.store.Run(ctx, "RUN-1"); r.Status != "failed" {
		t.Fatalf("the pass is recorded %q, want failed", r.Status)
	}
}
