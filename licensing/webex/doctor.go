package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/licensync/licensync/doctor"
	"github.com/licensync/licensync/licensing"
)

// MinTokenLife is how long doctor asks the refresh token to stay valid:
// a token that lapses within a week stops the service before anyone looks.
const MinTokenLife = 7 * 24 * time.Hour

// scopeFix is the fix for a scope the token lacks.
func scopeFix(scope string) string {
	return fmt.Sprintf("add the scope %s to the integration and authorise it again, as a full administrator (an administrator's own token carries the scopes of their role)", scope)
}

// Doctor checks what a pass needs of the Webex organisation: a valid token
// (refreshed, for a refresh-token configuration, and not expiring within
// MinTokenLife), the organisation, each read scope (one read each), and the
// write scope as far as Webex lets it be known without writing. It returns
// the organisation's licences and Calling locations when it could read
// them, for the templates to be checked against. It writes nothing.
func (c *Client) Doctor(ctx context.Context) ([]doctor.Check, *licensing.Org) {
	var checks []doctor.Check
	if c.auth.canRefresh() {
		check, ok := c.probeRefresh(ctx)
		checks = append(checks, check)
		if !ok {
			return checks, nil
		}
	}
	tried := "GET /people/me with the token"
	var me struct {
		OrgID string `json:"orgId"`
	}
	_, err := c.getJSON(ctx, "read the token's person", c.url("/people/me", nil), &me)
	if err != nil {
		if errors.Is(err, ErrTokenRejected) {
			return append(checks, doctor.Fail("webex token", tried, err.Error(),
				"create a new token (an integration's, with refresh_token, client_id and client_secret, renews itself; a personal access token lasts 12 hours)")), nil
		}
		return append(checks, doctor.Fail("webex token", tried, err.Error(), "check base_url and the network")), nil
	}
	if !c.auth.canRefresh() {
		checks = append(checks, doctor.Pass("webex token", tried, "accepted"),
			doctor.Unknown("webex token lifetime", "look for the configured token's expiry", "Webex does not say when a configured access token expires",
				"configure refresh_token, client_id and client_secret so that licensync renews the token itself"))
	}
	checks = append(checks, c.probeOrg(ctx, me.OrgID))
	org := licensing.NewOrg()
	lics, err := c.loadLicences(ctx)
	checks = append(checks, scopeCheck("spark-admin:licenses_read", "licences", "GET /licenses", err, fmt.Sprintf("%d licence(s)", len(lics))))
	org.Licences = lics
	complete := err == nil
	for _, p := range []struct{ scope, what, path, key string }{
		{"spark-admin:people_read", "people", "/people", "items"},
		{"spark-admin:telephony_config_read", "numbers", "/telephony/config/numbers", "phoneNumbers"},
	} {
		err := c.pagesUpTo(ctx, "list "+p.what, c.url(p.path, url.Values{"max": {"1"}}), p.key, 1, func(json.RawMessage) error { return nil })
		if errors.Is(err, errTooManyPages) {
			err = nil
		}
		checks = append(checks, scopeCheck(p.scope, p.what, "GET "+p.path+"?max=1", err, "readable"))
	}
	err = c.callingLocations(ctx, org.Locations)
	checks = append(checks, scopeCheck("spark-admin:telephony_config_read", "locations", "GET /telephony/config/locations", err,
		fmt.Sprintf("%d Calling location(s)", len(org.Locations))))
	complete = complete && err == nil
	checks = append(checks, doctor.Unknown("webex scope spark-admin:people_write (licences)", "look for the token's scopes",
		"Webex does not show a token's scopes, and trying the write scope would change a licence",
		"make sure the integration asks for spark-admin:people_write; the first `licensync run` that provisions a user proves it"))
	if !complete {
		return checks, nil
	}
	return checks, org
}

// scopeCheck turns the answer to a read into the check of the scope it
// needs: a 403 is the scope missing.
func scopeCheck(scope, what, tried string, err error, detail string) doctor.Check {
	name := fmt.Sprintf("webex scope %s (%s)", scope, what)
	var se *statusError
	switch {
	case err == nil:
		return doctor.Pass(name, tried, detail)
	case errors.As(err, &se) && se.res.Status == http.StatusForbidden:
		return doctor.Fail(name, tried, "not granted: "+se.res.summary(), scopeFix(scope))
	}
	return doctor.Fail(name, tried, err.Error(), "check base_url and the network")
}

// probeRefresh renews the access token with the refresh token, as a pass
// does when it starts, and checks how long the refresh token has left.
func (c *Client) probeRefresh(ctx context.Context) (doctor.Check, bool) {
	tried := "refresh the access token at " + c.base.String() + "/access_token"
	c.auth.mu.Lock()
	err := c.auth.renewLocked(ctx)
	until := c.auth.refreshExpiry
	c.auth.mu.Unlock()
	if err != nil {
		return doctor.Fail("webex token", tried, err.Error(),
			"authorise the integration again for a new refresh_token, and check client_id and client_secret"), false
	}
	if until.IsZero() {
		return doctor.Pass("webex token", tried, "refreshed (the answer does not say when the refresh token expires)"), true
	}
	left := time.Until(until)
	detail := fmt.Sprintf("refreshed; the refresh token expires on %s, in %d day(s)", until.UTC().Format(time.DateOnly), int(left.Hours()/24))
	if left < MinTokenLife {
		return doctor.Fail("webex token", tried, detail, "authorise the integration again and set the new refresh_token before it lapses"), true
	}
	return doctor.Pass("webex token", tried, detail), true
}

// probeOrg checks that the configured org_id is one the token's
// administrator manages, or names the token's own organisation.
func (c *Client) probeOrg(ctx context.Context, own string) doctor.Check {
	id := c.opt.OrgID
	if id == "" {
		return doctor.Pass("webex org_id", "read orgId of /people/me", "not set: the token's own organisation "+own)
	}
	tried := "GET /organizations/" + id
	var org struct {
		DisplayName string `json:"displayName"`
	}
	_, err := c.getJSON(ctx, "read the organisation", c.url("/organizations/"+url.PathEscape(id), nil), &org)
	var se *statusError
	switch {
	case err == nil:
		return doctor.Pass("webex org_id", tried, fmt.Sprintf("%s (%s)", org.DisplayName, id))
	case errors.As(err, &se) && (se.res.Status == http.StatusNotFound || se.res.Status == http.StatusForbidden):
		return doctor.Fail("webex org_id", tried, "the token's administrator does not manage it: "+se.res.summary(),
			fmt.Sprintf("set org_id to an organisation this administrator manages (a partner's customer), or leave it out for the token's own (%s)", own))
	}
	return doctor.Fail("webex org_id", tried, err.Error(), "check base_url and the network")
}
