package config

import (
	"net/url"
	"strings"
)

// StateIsPostgres reports whether state names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a SQLite file.
func (c *Config) StateIsPostgres() bool { return isPostgresURL(c.State) }

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// checkState validates a PostgreSQL state URL and moves a password written
// in it (after ${ENV} expansion) to StatePassword, so that State itself can
// be logged and shown. No message quotes the URL: it may hold the password.
func (c *Config) checkState(e *Errors) {
	if !isPostgresURL(c.State) {
		if c.StatePassword != "" {
			e.add("state_password", 0, "only a PostgreSQL state (postgres://…) takes a password")
		}
		return
	}
	u, err := url.Parse(c.State)
	if err != nil {
		c.State = "postgres://(not shown)"
		e.add("state", 0, "not a valid PostgreSQL URL (write it like postgres://user@host:5432/licensync?sslmode=verify-full; the value is not shown, it may hold a password)")
		return
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			if c.StatePassword != "" {
				e.add("state", 0, "the URL carries a password and state_password is set too: give it once")
			}
			c.StatePassword = Secret(p)
			u.User = url.User(u.User.Username())
			c.State = u.String()
		}
	}
	if u.Host == "" {
		e.add("state", 0, "%s names no host", u.Redacted())
	}
	if strings.Trim(u.Path, "/") == "" {
		e.add("state", 0, "%s names no database (postgres://user@host:5432/licensync)", u.Redacted())
	}
}
