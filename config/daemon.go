package config

import (
	"net"
	"strings"
	"time"
)

// Daemon configures the long-running service, `licensync serve`.
type Daemon struct {
	// IncrementalEvery is the time between incremental passes; 0 turns
	// them off. Absent means 5m, so it is a pointer to tell the two apart.
	IncrementalEvery *Duration `yaml:"incremental_every"`
	// FullAt is the local time of day ("HH:MM", 24-hour) of the nightly
	// full pass, in Timezone.
	FullAt string `yaml:"full_at"`
	// Timezone names the IANA zone FullAt is read in ("Europe/Berlin");
	// empty means the host's local zone.
	Timezone string `yaml:"timezone"`
	// Listen is the address of the health, metrics and trigger endpoints.
	Listen string `yaml:"listen"`
	// TriggerToken is the bearer token POST /v1/passes requires, usually
	// written file:trigger-token; absent turns the trigger off.
	TriggerToken Secret `yaml:"trigger_token"`
	// KeepRuns is how many passes are kept, in the state store and as
	// report folders in report_dir; absent means 90, and 0 is refused
	// (keeping no pass would leave nothing for report --run).
	KeepRuns int `yaml:"keep_runs"`
	// Notify is the webhook for users failing longer than an age.
	Notify Notify `yaml:"notify"`
	// Console says who may use the help-desk console off loopback.
	Console Console `yaml:"console"`
	// LeaseTTL bounds a takeover on a PostgreSQL state store that replicas
	// share: the leader renews its lease every third of it, and a standby
	// takes over once it has run out. Absent means 15s.
	LeaseTTL Duration `yaml:"lease_ttl"`

	loc          *time.Location
	fullH, fullM int
}

// The daemon defaults.
const (
	DefaultIncrementalEvery = 5 * time.Minute
	DefaultFullAt           = "02:00"
	DefaultListen           = "127.0.0.1:9431"
	DefaultKeepRuns         = 90
	DefaultLeaseTTL         = 15 * time.Second
)

// Every returns the incremental interval; 0 means no incremental passes.
func (d *Daemon) Every() time.Duration {
	if d.IncrementalEvery == nil {
		return DefaultIncrementalEvery
	}
	return d.IncrementalEvery.D()
}

// Location returns the zone FullAt is read in.
func (d *Daemon) Location() *time.Location {
	if d.loc == nil {
		return time.Local
	}
	return d.loc
}

// FullClock returns FullAt's hour and minute.
func (d *Daemon) FullClock() (hour, minute int) { return d.fullH, d.fullM }

// check applies the daemon defaults and validates the section.
func (d *Daemon) check(c *Config, e *Errors) {
	if d.IncrementalEvery == nil {
		v := Duration(DefaultIncrementalEvery)
		d.IncrementalEvery = &v
	} else if v := d.IncrementalEvery.D(); v != 0 && v < time.Second {
		e.add("daemon.incremental_every", 0, "%s is too short (at least 1s, or 0 to turn incremental passes off)", v)
	}
	if d.FullAt == "" {
		d.FullAt = DefaultFullAt
	}
	if t, err := time.Parse("15:04", d.FullAt); err != nil || len(d.FullAt) != 5 {
		e.add("daemon.full_at", 0, "%q is not a time of day (write it as HH:MM, 24-hour, like 02:00)", d.FullAt)
	} else {
		d.fullH, d.fullM = t.Hour(), t.Minute()
	}
	d.loc = time.Local
	if d.Timezone != "" {
		loc, err := time.LoadLocation(d.Timezone)
		if err != nil {
			e.add("daemon.timezone", 0, "%q is not an IANA time zone (like Europe/Berlin or UTC)", d.Timezone)
		} else {
			d.loc = loc
		}
	}
	if d.Listen == "" {
		d.Listen = DefaultListen
	}
	if _, port, err := net.SplitHostPort(d.Listen); err != nil || port == "" {
		e.add("daemon.listen", 0, "%q is not host:port (like 127.0.0.1:9431)", d.Listen)
	}
	if c.has("daemon.trigger_token") {
		checkTriggerToken(d.TriggerToken.Value(), e)
	}
	switch {
	case !c.has("daemon.keep_runs"):
		d.KeepRuns = DefaultKeepRuns
	case d.KeepRuns < 1:
		e.add("daemon.keep_runs", 0, "%d is out of range (the number of passes to keep, at least 1; leave it out for %d)", d.KeepRuns, DefaultKeepRuns)
	}
	switch {
	case !c.has("daemon.lease_ttl"):
		d.LeaseTTL = Duration(DefaultLeaseTTL)
	case d.LeaseTTL.D() < time.Second:
		e.add("daemon.lease_ttl", 0, "%s is too short (at least 1s; leave it out for %s)", d.LeaseTTL.D(), DefaultLeaseTTL)
	}
	d.Notify.check(c, e)
	d.Console.check(c, e)
}

// minTriggerTokenLength is the shortest trigger token accepted: 16
// characters, as from openssl rand -hex 8, or better -hex 32.
const minTriggerTokenLength = 16

// checkTriggerToken refuses a token that is empty (an empty file would
// silently turn the trigger off), short, or holds characters a header
// cannot carry. The errors never quote the token.
func checkTriggerToken(tok string, e *Errors) {
	const path = "daemon.trigger_token"
	switch {
	case tok == "":
		e.add(path, 0, "is empty: write a random token into the file it names (like openssl rand -hex 32 > trigger-token), or leave the key out to turn the trigger off")
	case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		e.add(path, 0, "holds a space or a control character, which an Authorization header cannot carry")
	case len(tok) < minTriggerTokenLength:
		e.add(path, 0, "is %d characters long; use at least %d (like openssl rand -hex 32 > trigger-token)", len(tok), minTriggerTokenLength)
	}
}
