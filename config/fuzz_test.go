package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// fuzzSeeds are real-shaped configurations: the demo's, one per source and
// target kind as the README shows them, and a few broken ones.
var fuzzSeeds = []string{
	"../testdata/demo/licensync.yaml",
	"testdata/fuzz-seeds/ldap-ad.yaml",
	"testdata/fuzz-seeds/graph-webex-daemon.yaml",
	"testdata/fuzz-seeds/okta-anchors.yaml",
}

// FuzzParse feeds any bytes to the loader: the answer is a configuration or
// errors that each name a field path, never a panic, and it comes in a time
// and with memory bounded by the input's size.
func FuzzParse(f *testing.F) {
	for _, p := range fuzzSeeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("source: {kind: file, file: {path: [x]}}\n"))
	f.Add([]byte("templates:\n  - &t {name: a, licenses: [{id: L}]}\n  - *t\n"))
	f.Add([]byte("state: \"${UNSET\"\nremovals: {max_fraction: 0}\napply: {batch_size: 0}\n"))
	f.Add([]byte("\xef\xbb\xbfstate: x\n\t- y"))
	dir := f.TempDir()
	lookup := func(name string) (string, bool) {
		if name == "UNSET" || name == "CREDENTIALS_DIRECTORY" {
			return "", false
		}
		return "from-env-" + name, true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		cfg, err := Parse(filepath.Join(dir, "licensync.yaml"), data, Options{LookupEnv: lookup})
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		// Generous, for a loaded machine: what it catches is a parse that
		// does not end, or that grows faster than the input.
		if limit := 5*time.Second + time.Duration(len(data))*time.Millisecond; elapsed > limit {
			t.Errorf("%d bytes took %v (more than %v)", len(data), elapsed, limit)
		}
		if n, limit := after.TotalAlloc-before.TotalAlloc, uint64(64<<20+len(data)<<10); n > limit {
			t.Errorf("%d bytes allocated %d bytes (more than %d)", len(data), n, limit)
		}
		if (cfg == nil) == (err == nil) {
			t.Fatalf("config %v and error %v: want exactly one", cfg != nil, err)
		}
		if err == nil {
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 {
			t.Fatalf("error %v (%T), want configuration errors", err, err)
		}
		for _, e := range errs.List {
			if e.Path == "" || e.Msg == "" {
				t.Errorf("error %q has no field path", e.Error())
			}
		}
	})
}
