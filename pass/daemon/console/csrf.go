package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// csrfCookie carries the token the Downloads form must send back. The
// cookie is SameSite=Strict, so a request another site starts goes without
// it, and its value is signed by the console, so a page on a sibling port
// (same site, other origin) cannot set one of its own making.
const csrfCookie = "licensync_csrf"

// csrfField is the form field that repeats the cookie's token.
const csrfField = "csrf"

type csrfKey struct{}

// csrfToken returns a new token: a random nonce and its signature.
func (c *Console) csrfToken() string {
	nonce := make([]byte, 18)
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(nonce) + "." + c.csrfSign(nonce)
}

func (c *Console) csrfSign(nonce []byte) string {
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid reports whether tok is a token this console signed.
func (c *Console) csrfValid(tok string) bool {
	n, sig, ok := strings.Cut(tok, ".")
	nonce, err := base64.RawURLEncoding.DecodeString(n)
	return ok && err == nil && hmac.Equal([]byte(sig), []byte(c.csrfSign(nonce)))
}

// withCSRFToken makes sure the browser holds a token cookie and hands the
// token to the page, which puts it in its form.
func (c *Console) withCSRFToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if ck, err := r.Cookie(csrfCookie); err == nil && c.csrfValid(ck.Value) {
			tok = ck.Value
		} else {
			tok = c.csrfToken()
			http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: c.o.Base + "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		}
		next(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, tok)))
	}
}

// refuseCrossSite returns why a state-changing form post is refused, or
// "": it must come from the console's own origin (Origin, else Referer,
// naming this host) and repeat the token of its cookie. Behind a reverse
// proxy the console's host is the one the proxy names in
// X-Forwarded-Host, honoured only from daemon.console.trusted_proxies.
func (c *Console) refuseCrossSite(r *http.Request) string {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return "the request names no origin: send it from the console's Downloads page"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && fromProxy(r.RemoteAddr, c.o.Access().TrustedProxies) {
		host, _, _ = strings.Cut(fh, ",")
		host = strings.TrimSpace(host)
	}
	if u, err := url.Parse(from); err != nil || u.Host == "" || !strings.EqualFold(u.Host, host) {
		return "a request from another origin is refused"
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || !c.csrfValid(ck.Value) {
		return "the form's token cookie is missing: open the Downloads page again"
	}
	if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(ck.Value)) {
		return "the form's token does not match: open the Downloads page again"
	}
	return ""
}

// askPlan asks the service for a plan pass that exports the plan, then
// sends the browser back to the Downloads page, which shows it coming.
func (c *Console) askPlan(w http.ResponseWriter, r *http.Request) {
	if c.o.ExportPlan == nil {
		c.fail(w, r, http.StatusNotFound, "this console cannot make a plan: it runs outside licensync serve")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if why := c.refuseCrossSite(r); why != "" {
		c.o.Log.Warn("plan export refused", zap.String("why", why), zap.String("remote", r.RemoteAddr))
		c.fail(w, r, http.StatusForbidden, why)
		return
	}
	c.o.ExportPlan()
	http.Redirect(w, r, c.o.Base+"/downloads#plan-h", http.StatusSeeOther)
}
