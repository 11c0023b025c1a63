package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/okta/okta-sdk-golang/v2/okta"
)

// Okta error codes the source explains.
const (
	codeInvalidToken = "E0000011"
	codeForbidden    = "E0000006"
	codeNotFound     = "E0000007"
)

// apiError turns what the SDK returned for page n of what into one clear
// message naming the setting to check. Messages carry Okta's errorId, the
// id Okta support asks for, and never a credential: request URLs are cut to
// their path, since a service app's token request carries its signed
// assertion in the query.
func (s *Source) apiError(ctx context.Context, what string, n int, resp *okta.Response, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var (
		reach *reachError
		thr   *throttledError
		oe    *okta.Error
	)
	status := 0
	if resp != nil && resp.Response != nil {
		status = resp.StatusCode
	}
	where := fmt.Sprintf("okta: %s: %s", s.org, what)
	if n > 1 {
		where += fmt.Sprintf(", page %d", n)
	}
	switch {
	case errors.As(err, &reach):
		return fmt.Errorf("%s: cannot reach the organisation (check source.okta.org_url and the network): %s", where, reach.Error())
	case errors.As(err, &thr):
		return fmt.Errorf("%s: %s", where, thr.Error())
	case !errors.As(err, &oe):
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		if strings.Contains(msg, "could not build a response") {
			return fmt.Errorf("%s: the answer is not Okta's (%s; check source.okta.org_url)", where, msg)
		}
		return fmt.Errorf("%s: %s", where, msg)
	}
	ref := ""
	if oe.ErrorId != "" {
		ref = ", errorId " + oe.ErrorId
	}
	summary := oe.ErrorSummary
	switch {
	case oe.ErrorMessage != "" && status == 0:
		return fmt.Errorf("%s: the organisation refused the service app's credentials (%s: %s); check source.okta.client_id, private_key_file, private_key_id and that the scopes %s are granted to the app",
			where, oe.ErrorMessage, oe.ErrorDescription, strings.Join(s.cfg.Scopes, ", "))
	case status == http.StatusUnauthorized || oe.ErrorCode == codeInvalidToken:
		return fmt.Errorf("%s: the organisation rejected the credentials (%d %s %s%s); check source.okta.token: it may be revoked, expired or from another organisation",
			where, status, oe.ErrorCode, summary, ref)
	case status == http.StatusForbidden || oe.ErrorCode == codeForbidden:
		return fmt.Errorf("%s: permission denied (%d %s %s%s); the token's admin needs at least the Read-only Administrator role (a service app the okta.users.read and okta.groups.read scopes)",
			where, status, oe.ErrorCode, summary, ref)
	case status == http.StatusNotFound && oe.ErrorCode == codeNotFound:
		return fmt.Errorf("%s: not found (%s %s%s); a group may have been deleted during the pass, run it again", where, oe.ErrorCode, summary, ref)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: no Okta organisation answers there (404 without an Okta error); check source.okta.org_url", where)
	case status >= 500:
		return fmt.Errorf("%s: Okta server error %d %s%s, still failing after %d retries; try again later (status.okta.com shows incidents)",
			where, status, strings.TrimSpace(oe.ErrorCode+" "+summary), ref, errorRetries)
	}
	return fmt.Errorf("%s: Okta refused the request (%d %s %s%s)", where, status, oe.ErrorCode, summary, ref)
}

// throttledError is a request still answered 429 after waiting out the
// rate limit window several times.
type throttledError struct{ path string }

func (e *throttledError) Error() string {
	return fmt.Sprintf("%s: still rate limited after waiting for the window to reset %d times; another API client may be using up the organisation's limit, try again later", e.path, throttleRetries)
}
