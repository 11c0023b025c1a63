package webex

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/pass"
	"github.com/licensync/licensync/sources/file"
)

// quietSource is the demo directory read incrementally when nothing in it
// changes: the first read has everyone, each read from a checkpoint nobody.
type quietSource struct{ users []licensing.DirectoryUser }

func (q *quietSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	if since != "" {
		return "cp", false, nil
	}
	for _, u := range q.users {
		if err := emit(u); err != nil {
			return "", false, err
		}
	}
	return "cp", true, nil
}

func (q *quietSource) Close() error { return nil }

func TestAFailureClearedInWebexIsLicensedInTheNextQuietPass(t *testing.T) {
	tests := []struct {
		cause licensing.Cause
		user  string
		clear func(f *fake)
	}{
		{licensing.CauseWebexUserNotFound, "u21", func(f *fake) {
			f.People["P-21"] = &fakePerson{ID: "P-21", Email: "user21@corp.example", Name: "Demo User 21"}
		}},
		{licensing.CauseNumberNotProvisioned, "u24", func(f *fake) {
			f.Numbers = append(f.Numbers, &fakeNumber{Phone: "+12125550199", Ext: "1199", Location: "LOC-NYC", State: "ACTIVE"})
		}},
		{licensing.CauseNumberLocationInvalid, "u25", func(f *fake) { delete(f.NoCalling, "LOC-LAB") }},
		{licensing.CauseNumberAssignedToOther, "u26", func(f *fake) {
			n := f.Number("+12125550126")
			n.OwnerID, n.OwnerType = "", ""
		}},
		{licensing.CauseLicenceUnavailable, "u28", func(f *fake) { f.Licence("LIC-BAS").Total = 2 }},
		// The first pass's first PATCH is answered 503 and not retried: the
		// user it was for fails with API_ERROR, whoever it is.
		{licensing.CauseAPIError, "", nil},
	}
	var users []licensing.DirectoryUser
	if _, _, err := file.New(filepath.Join(demoDir, "directory.csv"), nil).Users(context.Background(), "", func(u licensing.DirectoryUser) error {
		users = append(users, u)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(string(tc.cause), func(t *testing.T) {
			ctx := context.Background()
			f := newFake(t)
			f.loadDemo(t)
			s := newSpine(t)
			runPass := func(c *Client, id string, at time.Time) *pass.Result {
				t.Helper()
				res, err := pass.Execute(ctx, pass.Options{
					Policy: s.cfg.Policy(), Source: &quietSource{users: users}, Target: c, Store: s.store,
					Mode: pass.Apply, SourceKey: "quiet", ReportDir: filepath.Join(s.dir, "reports"), BatchSize: 7, Workers: 2,
					Now: func() time.Time { return at }, RunID: id,
				})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			opt := Options{}
			if tc.clear == nil {
				f.Fail5xx, f.Fail5xxPath, f.Fail5xxMethod = 1, "/licenses/users", "PATCH"
				opt.MaxAttempts = 1
			}
			runPass(f.client(t, opt), "RUN-1", t0)
			failed := map[string]string{}
			if err := s.store.Rows(ctx, licensing.Failed, func(r pass.Row) error { failed[r.SourceID] = r.Cause; return nil }); err != nil {
				t.Fatal(err)
			}
			user := tc.user
			for id, c := range failed {
				if tc.clear == nil && c == string(tc.cause) {
					user = id
				}
			}
			if failed[user] != string(tc.cause) {
				t.Fatalf("after the first pass %q failed with %q, want %s", user, failed[user], tc.cause)
			}
			if tc.clear != nil {
				f.Mu.Lock()
				tc.clear(f)
				f.Mu.Unlock()
			}
			person := ""
			for _, p := range f.People {
				if p.Email == "user"+strings.TrimPrefix(user, "u")+"@corp.example" {
					person = p.ID
				}
			}
			before := f.patchesPerPerson()
			res := runPass(f.client(t, Options{}), "RUN-2", t0.Add(5*time.Minute))
			after := f.patchesPerPerson()
			if res.Run.Full || res.Writes != 1 || after[person] != before[person]+1 {
				t.Fatalf("the quiet pass: full %v, %d writes, PATCHes per person %v -> %v; want one, for %s (%s)", res.Run.Full, res.Writes, before, after, person, user)
			}
			for id, n := range after {
				if id != person && n != before[id] {
					t.Errorf("%s, not cleared, was written in the quiet pass", id)
				}
			}
			report, err := os.ReadFile(filepath.Join(res.ReportDir, "report.csv"))
			if err != nil {
				t.Fatal(err)
			}
			rows := map[string]string{}
			for _, line := range strings.Split(string(report), "\n") {
				if id, _, ok := strings.Cut(line, ","); ok {
					rows[id] = line
				}
			}
			if !strings.Contains(rows[user], ","+string(licensing.Provisioned)+",") {
				t.Fatalf("%s in the quiet pass's report: %q, want PROVISIONED", user, rows[user])
			}
			if user != "u21" && !strings.Contains(rows["u21"], "(failing for 5m)") {
				t.Errorf("u21, still without a person, in the quiet pass's report: %q", rows["u21"])
			}
			for _, blocked := range []string{"u27", "u29"} {
				if rows[blocked] != "" {
					t.Errorf("%s, still blocked, is in the quiet pass: %q", blocked, rows[blocked])
				}
			}
		})
	}
}
