package config

import (
	"net/url"
	"time"
)

// Notify configures the webhook that tells someone outside licensync about
// users who have been failing for a while, so a help desk hears of a stuck
// licence without reading reports.
type Notify struct {
	// WebhookURL receives one JSON POST per user failing longer than After,
	// once per user and cause; empty turns the webhook off. It may carry a
	// token (a Slack or Teams incoming webhook does), so it is a Secret:
	// write it as ${ENV} or file:name.
	WebhookURL Secret `yaml:"webhook_url"`
	// After is how long a user's failure lasts before the webhook fires;
	// absent means 24h, 0 fires at the first pass that records it.
	After Duration `yaml:"after"`
}

// DefaultNotifyAfter is the age of a failure the webhook waits for.
const DefaultNotifyAfter = 24 * time.Hour

// check applies the default age and validates the section. Its messages
// never quote the URL: it may carry a token.
func (n *Notify) check(c *Config, e *Errors) {
	const field = "daemon.notify.webhook_url"
	if !c.has("daemon.notify.after") {
		n.After = Duration(DefaultNotifyAfter)
	}
	if n.WebhookURL == "" {
		if c.has("daemon.notify.after") {
			e.add("daemon.notify.after", 0, "is set but daemon.notify.webhook_url is not: there is nowhere to send the notice")
		}
		return
	}
	u, err := url.Parse(n.WebhookURL.Value())
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		e.add(field, 0, "is not an http(s) URL like https://hooks.example.com/licensync (the value is not shown: it may carry a token)")
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		e.add(field, 0, "must use https: the URL and the users' details would cross the network in clear (plain http is only accepted on a loopback address)")
	case u.User != nil:
		e.add(field, 0, "carries a user name or password before the host; put the token in the path or the query, as the receiving service documents")
	}
}
