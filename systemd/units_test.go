// Package systemd holds licensync's systemd units; its test checks them.
package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// settings reads a unit file into section.key -> values (a key may repeat).
func settings(t *testing.T, name string) map[string][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", name, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var hardening = map[string]string{
	"Service.DynamicUser":             "yes",
	"Service.StateDirectory":          "licensync",
	"Service.ProtectSystem":           "strict",
	"Service.ProtectHome":             "yes",
	"Service.NoNewPrivileges":         "yes",
	"Service.PrivateTmp":              "yes",
	"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	"Service.CapabilityBoundingSet":   "",
	"Service.SystemCallFilter":        "@system-service",
}

func TestUnitsHaveTheirKeySettings(t *testing.T) {
	tests := []struct {
		name, file string
		want       map[string]string
	}{
		{"the service is a notify unit running serve with a watchdog", "licensync.service", map[string]string{
			"Service.Type":      "notify",
			"Service.ExecStart": "/usr/local/bin/licensync serve -c /etc/licensync/licensync.yaml",
			"Service.Restart":   "on-failure",
		}},
		{"the nightly service is a one-shot full run", "licensync-nightly.service", map[string]string{
			"Service.Type":      "oneshot",
			"Service.ExecStart": "/usr/local/bin/licensync run --full -c /etc/licensync/licensync.yaml",
		}},
		{"the nightly timer fires at 02:00 and catches up after downtime", "licensync-nightly.timer", map[string]string{
			"Timer.OnCalendar": "*-*-* 02:00:00",
			"Timer.Persistent": "true",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := settings(t, tc.file)
			want := tc.want
			if strings.HasSuffix(tc.file, ".service") {
				for k, v := range hardening {
					want[k] = v
				}
				if len(got["Service.LoadCredential"]) == 0 {
					t.Error("no LoadCredential=: secrets would have to sit in the configuration")
				}
			}
			for k, v := range want {
				if vs := got[k]; len(vs) != 1 || vs[0] != v {
					t.Errorf("%s = %q, want exactly %q", k, vs, v)
				}
			}
		})
	}
	if w := settings(t, "licensync.service")["Service.WatchdogSec"]; len(w) != 1 || w[0] == "" || w[0] == "0" {
		t.Errorf("licensync.service WatchdogSec = %q, want a watchdog", w)
	}
}

// TestUnitsVerify runs systemd-analyze verify on the units, with ExecStart
// pointed at an executable that exists here.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (Debian: apt-get install systemd)")
		}
		t.Skip("systemd-analyze is not installed")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	units, err := filepath.Glob("licensync*")
	if err != nil || len(units) != 3 {
		t.Fatalf("units = %v, %v; want 3", units, err)
	}
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/licensync", exe)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
