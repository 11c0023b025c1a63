package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/licensync/licensync/config"
)

// APIError is a refusal from Graph, with what the service said.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code and Message are the Graph error body's.
	Code, Message string
	// RequestID identifies the request for Microsoft support.
	RequestID string
	msg       string
}

func (e *APIError) Error() string { return e.msg }

// expired reports whether Graph no longer keeps the delta state a link
// carries, so only a full read can go on.
func (e *APIError) expired() bool {
	switch strings.ToLower(e.Code) {
	case "syncstatenotfound", "resyncrequired", "syncstateinvalid":
		return true
	}
	return e.Status == http.StatusGone
}

var aadCode = regexp.MustCompile(`AADSTS(\d+)[^"\r\n]*`)

// explain turns an error from the SDK or the identity library into one
// message naming what to fix. what says what the request was for, like
// "page 3 of /users". The secret is taken out of anything the error
// carries from the service.
func (s *Source) explain(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		return s.apiError(what, oe)
	}
	cfg := s.cfg
	if code, detail := aadError(err, cfg); code != "" {
		return fmt.Errorf("graph: %s: %s (%s)", what, aadFix(code, cfg), detail)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("graph: %s: no answer within %s (check base_url and the network, or raise timeout)", what, cfg.Timeout.D())
	}
	// One line, whatever the libraries below wrote.
	msg := strings.Join(strings.Fields(redact(err.Error(), cfg)), " ")
	if strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") {
		return fmt.Errorf("graph: %s: TLS failed (check ca_file, and that base_url and authority_host name the service): %s", what, msg)
	}
	var oe2 *net.OpError
	if errors.As(err, &oe2) || strings.Contains(msg, "dial tcp") || strings.Contains(msg, "no such host") {
		return fmt.Errorf("graph: %s: cannot reach the service (check base_url and authority_host, and any proxy): %s", what, msg)
	}
	return fmt.Errorf("graph: %s: %s", what, msg)
}

// aadError finds the identity service's AADSTS error in err: its code, and
// its message without the trace ids and the secret.
func aadError(err error, cfg config.GraphSource) (code, detail string) {
	m := aadCode.FindStringSubmatch(err.Error())
	if m == nil {
		return "", ""
	}
	detail = strings.TrimSpace(m[0])
	if i := strings.Index(detail, " Trace ID:"); i > 0 {
		detail = detail[:i]
	}
	return m[1], redact(detail, cfg)
}

// aadFix says what an AADSTS error code of the identity service means for
// the configuration, and what to change.
func aadFix(code string, cfg config.GraphSource) string {
	switch code {
	case "7000215":
		return fmt.Sprintf("the identity service rejected the client secret of client_id %s: check client_secret (it must be the secret's Value, not its Secret ID)", cfg.ClientID)
	case "7000222":
		return fmt.Sprintf("the client secret of client_id %s has expired: create a new one under Certificates & secrets in the app registration and update client_secret", cfg.ClientID)
	case "700016":
		return fmt.Sprintf("no application with client_id %s is registered in tenant %s: check client_id and tenant_id", cfg.ClientID, cfg.TenantID)
	case "90002", "900023", "90013":
		return fmt.Sprintf("tenant %q was not found: check tenant_id, and authority_host for a national cloud", cfg.TenantID)
	case "700027", "700024":
		return fmt.Sprintf("the identity service rejected the certificate of client_id %s: check that certificate_file holds the certificate uploaded to the app registration", cfg.ClientID)
	case "7000112":
		return fmt.Sprintf("the application with client_id %s is disabled in tenant %s: enable it under Enterprise applications", cfg.ClientID, cfg.TenantID)
	}
	return fmt.Sprintf("getting a token for client_id %s in tenant %s failed: check tenant_id, client_id and the credential", cfg.ClientID, cfg.TenantID)
}

func (s *Source) apiError(what string, oe *odataerrors.ODataError) *APIError {
	e := &APIError{Status: oe.ResponseStatusCode}
	if m := oe.GetErrorEscaped(); m != nil {
		e.Code, e.Message = deref(m.GetCode()), deref(m.GetMessage())
		if in := m.GetInnerError(); in != nil {
			e.RequestID = deref(in.GetRequestId())
		}
	}
	if h := oe.GetResponseHeaders(); h != nil && e.RequestID == "" {
		if v := h.Get("request-id"); len(v) > 0 {
			e.RequestID = v[0]
		}
	}
	said := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		said += " " + e.Code
	}
	if e.Message != "" {
		said += ": " + redact(e.Message, s.cfg)
	}
	if e.RequestID != "" {
		said += ", request-id " + e.RequestID
	}
	var fix string
	switch {
	case e.Status == http.StatusForbidden || e.Code == "Authorization_RequestDenied":
		fix = "the app registration lacks permission: grant it the application permissions User.Read.All and GroupMember.Read.All, with admin consent"
	case e.Status == http.StatusUnauthorized:
		fix = "Graph refused the token: check that tenant_id is the tenant the app is registered in, and that base_url and authority_host are the same cloud"
	case e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable:
		fix = "Graph kept throttling after the retries it asked for; the next pass tries again"
	case e.expired():
		fix = "the delta link is older than Graph keeps"
	case e.Status >= 500:
		fix = "Graph failed; the next pass tries again"
	}
	if fix != "" {
		e.msg = fmt.Sprintf("graph: %s: %s (%s)", what, fix, said)
	} else {
		e.msg = fmt.Sprintf("graph: %s: %s", what, said)
	}
	return e
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// redact removes the credential from text the service or a library
// produced.
func redact(text string, cfg config.GraphSource) string {
	for _, secret := range []string{cfg.ClientSecret.Value(), cfg.CertificatePassword.Value()} {
		if len(secret) >= 4 {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

func redactErr(err error, cfg config.GraphSource) string { return redact(err.Error(), cfg) }
