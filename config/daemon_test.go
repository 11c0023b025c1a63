package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseDaemon(t *testing.T, daemon string) (*Config, error) {
	t.Helper()
	return Parse(t.TempDir()+"/licensync.yaml", []byte(daemon+webexTemplates), Options{LookupEnv: func(string) (string, bool) { return "", false }})
}

func TestDaemonDefaultsApplyWhenTheSectionIsAbsent(t *testing.T) {
	c, err := parseDaemon(t, "")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Daemon
	h, m := d.FullClock()
	if d.Every() != 5*time.Minute || d.FullAt != "02:00" || h != 2 || m != 0 || d.Listen != "127.0.0.1:9431" || d.KeepRuns != 90 || d.Location() != time.Local || d.LeaseTTL.D() != 15*time.Second {
		t.Errorf("defaults = every %s, full_at %q (%d:%d), listen %q, keep_runs %d, zone %s, lease_ttl %s", d.Every(), d.FullAt, h, m, d.Listen, d.KeepRuns, d.Location(), d.LeaseTTL.D())
	}
}

func TestDaemonSettingsAreRead(t *testing.T) {
	tests := []struct {
		name, daemon string
		check        func(d *Daemon) bool
	}{
		{"an incremental interval of 0 turns incremental passes off", "daemon: {incremental_every: 0s}\n",
			func(d *Daemon) bool { return d.Every() == 0 }},
		{"an incremental interval is read as a duration", "daemon: {incremental_every: 90s}\n",
			func(d *Daemon) bool { return d.Every() == 90*time.Second }},
		{"full_at is split into hour and minute", "daemon: {full_at: \"23:45\"}\n",
			func(d *Daemon) bool { h, m := d.FullClock(); return h == 23 && m == 45 }},
		{"a named time zone is loaded", "daemon: {timezone: America/New_York}\n",
			func(d *Daemon) bool { return d.Location().String() == "America/New_York" }},
		{"a port-only listen address is accepted", "daemon: {listen: \":0\"}\n",
			func(d *Daemon) bool { return d.Listen == ":0" }},
		{"keep_runs is read", "daemon: {keep_runs: 7}\n",
			func(d *Daemon) bool { return d.KeepRuns == 7 }},
		{"lease_ttl is read as a duration", "daemon: {lease_ttl: 2s}\n",
			func(d *Daemon) bool { return d.LeaseTTL.D() == 2*time.Second }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseDaemon(t, tc.daemon)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(&c.Daemon) {
				t.Errorf("daemon = %+v (every %s)", c.Daemon, c.Daemon.Every())
			}
		})
	}
}

func TestDaemonConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name, daemon, wantPath string
	}{
		{"a time of day without a colon is refused", "daemon: {full_at: \"0200\"}\n", "daemon.full_at"},
		{"an hour past 23 is refused", "daemon: {full_at: \"24:00\"}\n", "daemon.full_at"},
		{"a single-digit hour is refused", "daemon: {full_at: \"2:00\"}\n", "daemon.full_at"},
		{"an unknown time zone is refused", "daemon: {timezone: Mars/Olympus}\n", "daemon.timezone"},
		{"a listen address without a port is refused", "daemon: {listen: 127.0.0.1}\n", "daemon.listen"},
		{"a negative keep_runs is refused", "daemon: {keep_runs: -1}\n", "daemon.keep_runs"},
		{"a sub-second interval is refused", "daemon: {incremental_every: 10ms}\n", "daemon.incremental_every"},
		{"a sub-second lease is refused", "daemon: {lease_ttl: 500ms}\n", "daemon.lease_ttl"},
		{"a lease of 0 is refused", "daemon: {lease_ttl: 0s}\n", "daemon.lease_ttl"},
		{"a negative interval is refused", "daemon: {incremental_every: -5m}\n", "daemon.incremental_every"},
		{"an unknown key under daemon is refused", "daemon: {listn: x}\n", "daemon.listn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDaemon(t, tc.daemon)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			if len(errs.List) != 1 || errs.List[0].Path != tc.wantPath {
				t.Errorf("errors = %v, want exactly one at %s", errs.List, tc.wantPath)
			}
		})
	}
}

func TestTheTriggerTokenIsReadFromAFileAndNeverQuoted(t *testing.T) {
	const token = "5f2b9c0e7a1d4e3f8b6a"
	tests := []struct {
		name, file, daemon string
		want               string // the token read, when wantErr is empty
		wantErr            string
	}{
		{"a token file is read without its newline", token + "\n", "daemon: {trigger_token: file:trigger-token}\n", token, ""},
		{"no trigger_token leaves the trigger off", token, "", "", ""},
		{"an empty token file is refused, not taken as off", "\n", "daemon: {trigger_token: file:trigger-token}\n", "", "daemon.trigger_token: is empty"},
		{"a short token is refused", "abc123\n", "daemon: {trigger_token: file:trigger-token}\n", "", "daemon.trigger_token: is 6 characters long; use at least 16"},
		{"a token with a space is refused", "abc def ghi jkl mno\n", "daemon: {trigger_token: file:trigger-token}\n", "", "daemon.trigger_token: holds a space"},
		{"a missing token file is refused", "", "daemon: {trigger_token: file:no-such-file}\n", "", "daemon.trigger_token (line 1): cannot read the file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "trigger-token"), []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Parse(filepath.Join(dir, "licensync.yaml"), []byte(tc.daemon+webexTemplates), env(nil))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if tok := strings.TrimSpace(tc.file); tok != "" && strings.Contains(err.Error(), tok) {
					t.Fatalf("the error quotes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Daemon.TriggerToken.Value(); got != tc.want {
				t.Fatalf("token = %q, want %q", got, tc.want)
			}
			if tc.want != "" && c.Daemon.TriggerToken.String() != "[redacted]" {
				t.Fatalf("the token prints as %q", c.Daemon.TriggerToken.String())
			}
		})
	}
}
