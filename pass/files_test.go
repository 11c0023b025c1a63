package pass

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/internal/pgtest"
	"github.com/licensync/licensync/licensing"
	"github.com/licensync/licensync/licensing/offline"
	"github.com/licensync/licensync/sources/file"
)

// run is d.try with the options edited first.
func (d *demo) run(mode Mode, id string, edit func(*Options)) (*Result, error) {
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	o := Options{
		Policy: d.cfg.Policy(), Source: file.New(d.cfg.Source.File.Path, nil), Target: d.org, Store: d.store,
		Mode: mode, SourceKey: "file", ReportDir: d.cfg.ReportDir, BatchSize: 3, Workers: 2,
		Now: func() time.Time { return clock }, RunID: id,
	}
	if edit != nil {
		edit(&o)
	}
	return Execute(context.Background(), o)
}

// stopsMidPass makes a pass fail while it applies, after some of its rows
// are recorded.
func (d *demo) stopsMidPass(o *Options) { o.Target = &stopAt{Org: d.org, n: 2} }

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// tree lists the files under dir, relative to it.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func readReports(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"report.csv", "report.json", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

func TestAFailedPassClosesItsFilesAndLeavesNothingBehind(t *testing.T) {
	d := newDemo(t)
	d.pass(t, PlanOnly, "PLAN-1")
	before := tree(t, d.cfg.ReportDir)
	fds := openFDs(t)
	if _, err := d.run(Apply, "RUN-2", d.stopsMidPass); err == nil || !strings.Contains(err.Error(), "token rejected") {
		t.Fatalf("err = %v, want the pass stopped by the target", err)
	}
	if n := openFDs(t); n != fds {
		t.Errorf("%d file descriptors open after the failed pass, %d before: the pass leaked %d", n, fds, n-fds)
	}
	if after := tree(t, d.cfg.ReportDir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("the failed pass left files in report_dir: before %q, after %q", before, after)
	}
	if _, err := os.Stat(filepath.Join(d.cfg.ReportDir, "RUN-2")); !os.IsNotExist(err) {
		t.Errorf("the failed pass left its report folder: %v", err)
	}
	if left := tree(t, filepath.Join(filepath.Dir(d.cfg.State), "work")); len(left) > 0 {
		t.Errorf("the failed pass left working files: %q", left)
	}
}

func TestAFailedPassLeavesTheLastCompleteReportsInPlace(t *testing.T) {
	tests := []struct {
		name  string
		exact bool
	}{
		{"report_dir/latest/ keeps the last complete pass's reports", false},
		{"a reused --report-dir keeps the last complete pass's reports", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemo(t)
			where := filepath.Join(d.cfg.ReportDir, "latest")
			reuse := func(o *Options) {}
			if tc.exact {
				where = filepath.Join(d.dir, "one-folder")
				reuse = func(o *Options) { o.ExactReportDir = where }
			}
			if _, err := d.run(PlanOnly, "PLAN-1", reuse); err != nil {
				t.Fatal(err)
			}
			want := readReports(t, where)
			_, err := d.run(Apply, "RUN-2", func(o *Options) { reuse(o); d.stopsMidPass(o) })
			if err == nil {
				t.Fatal("the pass did not fail")
			}
			got := readReports(t, where)
			for name := range want {
				if !bytes.Equal(got[name], want[name]) {
					t.Errorf("%s changed after a failed pass (%d bytes, was %d)", name, len(got[name]), len(want[name]))
				}
			}
			if left := strings.Join(tree(t, where), " "); left != "report.csv report.html report.json" {
				t.Errorf("the folder holds %q, want the three reports and nothing beside them", left)
			}
		})
	}
}

// checkpointed is a source that returns a fixed checkpoint.
type checkpointed struct {
	Source
	next string
}

func (c checkpointed) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	_, full, err := c.Source.Users(ctx, since, emit)
	return c.next, full, err
}

func TestAPassWhoseReportsFailKeepsTheCheckpointWhereItWas(t *testing.T) {
	d := newDemo(t)
	ctx := context.Background()
	at := func(next string) func(*Options) {
		return func(o *Options) { o.Source = checkpointed{Source: o.Source, next: next} }
	}
	if _, err := d.run(Apply, "RUN-1", at("T1")); err != nil {
		t.Fatal(err)
	}
	// A report that cannot be put in place: report.html is a folder.
	blocked := filepath.Join(d.dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "report.html", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := d.run(Apply, "RUN-2", func(o *Options) {
		at("T2")(o)
		o.Full = true
		o.ExactReportDir = blocked
	})
	if err == nil || !strings.Contains(err.Error(), "report") {
		t.Fatalf("err = %v, want the report failure", err)
	}
	if cp, err := d.store.Checkpoint(ctx, "file"); err != nil || cp != "T1" {
		t.Errorf("checkpoint = %q, %v; want T1, where the last pass with complete reports left it", cp, err)
	}
	if r, err := d.store.Run(ctx, "RUN-2"); err != nil || r.Status != "failed" {
		t.Errorf("RUN-2 recorded %q, %v; want failed", r.Status, err)
	}
}

// killedPassEnv names the demo folder a helper process runs its pass in.
const killedPassEnv = "LICENSYNC_KILLED_PASS"

// TestMain runs this test binary as the helper process of
// TestWhatAKilledPassLeftIsRemovedByTheNextPass when asked to.
func TestMain(m *testing.M) {
	if dir := os.Getenv(killedPassEnv); dir != "" {
		killedPassHelper(dir)
		return
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// stalls is a target whose first write never returns: the pass is caught
// applying, with every working file open.
type stalls struct{ *offline.Org }

func (s stalls) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	fmt.Println("applying")
	select {}
}

// killedPassHelper runs an applying pass over the demo in dir that stalls
// at its first write, until the test kills it.
func killedPassHelper(dir string) {
	fail := func(err error) {
		fmt.Println(err)
		os.Exit(1)
	}
	cfg, err := config.Load(filepath.Join(dir, "licensync.yaml"), config.Options{})
	if err != nil {
		fail(err)
	}
	store, err := OpenStore(cfg.State)
	if err != nil {
		fail(err)
	}
	org, err := offline.Open(cfg.Target.Offline.Path, cfg.Target.Offline.Seed)
	if err != nil {
		fail(err)
	}
	_, err = Execute(context.Background(), Options{
		Policy: cfg.Policy(), Source: file.New(cfg.Source.File.Path, nil), Target: stalls{org}, Store: store,
		Mode: Apply, SourceKey: "file", ReportDir: cfg.ReportDir, BatchSize: 3, RunID: "KILLED-1",
	})
	fail(fmt.Errorf("the pass ended: %v", err))
}

// down is a target that cannot be reached.
type down struct{ *offline.Org }

func (down) Snapshot(context.Context) (*licensing.Org, error) { return nil, errors.New("target down") }

func TestWhatAKilledPassLeftIsRemovedByTheNextPass(t *testing.T) {
	d := newDemo(t)
	d.pass(t, PlanOnly, "PLAN-1")
	reports := tree(t, d.cfg.ReportDir)
	latest := readReports(t, filepath.Join(d.cfg.ReportDir, "latest"))
	work := filepath.Join(filepath.Dir(d.cfg.State), "work")

	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killedPassEnv+"="+d.dir, "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "applying" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	var spills []string
	for _, f := range tree(t, work) {
		spills = append(spills, f[:strings.LastIndexByte(f, '-')+1])
	}
	slices.Sort(spills)
	if got := strings.Join(spills, " "); got != "licensync-decided- licensync-reports- licensync-users-" {
		t.Errorf("working files under the state folder while the pass applies: %q", got)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the helper outlived SIGKILL")
	}
	if left := tree(t, tmp); len(left) > 0 {
		t.Errorf("the pass wrote into $TMPDIR: %q", left)
	}
	if left := tree(t, filepath.Join(d.cfg.ReportDir, "KILLED-1")); len(left) == 0 {
		t.Fatal("the killed pass left no unfinished report: the test kills it too late")
	}
	// A pass killed between the two renames of its latest/ swap.
	l := filepath.Join(d.cfg.ReportDir, "latest")
	if err := os.Rename(l, l+".old-KILLED-2"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l+".tmp-KILLED-2", 0o755); err != nil {
		t.Fatal(err)
	}

	// The next pass sweeps before it reaches the target, which is down.
	if _, err := d.run(PlanOnly, "PLAN-2", func(o *Options) { o.Target = down{d.org} }); err == nil || !strings.Contains(err.Error(), "target down") {
		t.Fatalf("err = %v, want the target down", err)
	}
	if left := tree(t, work); len(left) > 0 {
		t.Errorf("the killed pass's working files are still there: %q", left)
	}
	if left := tree(t, d.cfg.ReportDir); strings.Join(left, " ") != strings.Join(reports, " ") {
		t.Errorf("report_dir holds %q after the sweep, want %q as before the killed passes", left, reports)
	}
	got := readReports(t, l)
	for name := range latest {
		if !bytes.Equal(got[name], latest[name]) {
			t.Errorf("latest/%s is not the last complete report", name)
		}
	}
	if r, err := d.store.Run(context.Background(), "KILLED-1"); err != nil || r.Status != "interrupted" {
		t.Errorf("the killed pass is recorded %q, %v; want interrupted", r.Status, err)
	}
}
