package config

import (
	"errors"
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
	if d.Every() != 5*time.Minute || d.FullAt != "02:00" || h != 2 || m != 0 || d.Listen != "127.0.0.1:9431" || d.KeepRuns != 90 || d.Location() != time.Local {
		t.Errorf("defaults = every %s, full_at %q (%d:%d), listen %q, keep_runs %d, zone %s", d.Every(), d.FullAt, h, m, d.Listen, d.KeepRuns, d.Location())
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
