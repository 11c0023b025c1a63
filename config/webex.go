package config

import (
	"net/url"
	"time"
)

// WebexTarget is a Webex Calling organisation reached through the Webex
// public REST API.
type WebexTarget struct {
	// Token is the access token of an administrator or integration.
	Token Secret `yaml:"token"`
	// RefreshToken, ClientID and ClientSecret, all three set, let the
	// target refresh Token itself before it expires and when it is rejected.
	RefreshToken Secret `yaml:"refresh_token"`
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// OrgID selects the organisation for partner administrators; empty
	// means the token's own organisation.
	OrgID string `yaml:"org_id"`
	// BaseURL defaults to https://webexapis.com/v1.
	BaseURL string `yaml:"base_url"`
	// Rate is the most requests per second sent (default 10).
	Rate float64 `yaml:"rate"`
	// Concurrency is how many requests may be in flight (default 4).
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one request (default 30s).
	Timeout Duration `yaml:"timeout"`
}

// DefaultWebexBaseURL is the Webex public API.
const DefaultWebexBaseURL = "https://webexapis.com/v1"

// defaults fills the settings the file leaves out; an explicit 0 stays, for
// validate to refuse.
func (w *WebexTarget) defaults(c *Config) {
	if w.BaseURL == "" {
		w.BaseURL = DefaultWebexBaseURL
	}
	if !c.has("target.webex.rate") {
		w.Rate = 10
	}
	if !c.has("target.webex.concurrency") {
		w.Concurrency = 4
	}
	if !c.has("target.webex.timeout") {
		w.Timeout = Duration(30 * time.Second)
	}
}

func (w *WebexTarget) validate(e *Errors) {
	if w.Token == "" && w.RefreshToken == "" {
		e.add("target.webex.token", 0, "required for target.kind webex (or give refresh_token, client_id and client_secret)")
	}
	refresh := map[string]bool{
		"target.webex.refresh_token": w.RefreshToken != "",
		"target.webex.client_id":     w.ClientID != "",
		"target.webex.client_secret": w.ClientSecret != "",
	}
	some, all := false, true
	for _, set := range refresh {
		some = some || set
		all = all && set
	}
	if some && !all {
		for _, p := range []string{"target.webex.refresh_token", "target.webex.client_id", "target.webex.client_secret"} {
			if !refresh[p] {
				e.add(p, 0, "required to refresh the token: give refresh_token, client_id and client_secret together")
			}
		}
	}
	if u, err := url.Parse(w.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		e.add("target.webex.base_url", 0, "%q is not an http(s) URL", w.BaseURL)
	}
	if w.Rate <= 0 || w.Rate > 1000 {
		e.add("target.webex.rate", 0, "%v is out of range (more than 0, at most 1000 requests per second; leave it out for 10)", w.Rate)
	}
	if w.Concurrency < 1 || w.Concurrency > 64 {
		e.add("target.webex.concurrency", 0, "%d is out of range (1 to 64; leave it out for 4)", w.Concurrency)
	}
	if w.Timeout.D() < time.Second {
		e.add("target.webex.timeout", 0, "%s is too short (at least 1s; leave it out for 30s)", w.Timeout.D())
	}
}

func init() {
	targetKinds["webex"] = kind{
		validate: func(c *Config, e *Errors) {
			if c.Target.Webex == nil {
				c.Target.Webex = &WebexTarget{}
			}
			c.Target.Webex.defaults(c)
			c.Target.Webex.validate(e)
		},
		resolve: func(c *Config) {},
	}
}
