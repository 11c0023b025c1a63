package console

import (
	"crypto/sha256"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Access says who may use the console when it does not listen on a
// loopback address.
type Access struct {
	// Users are bcrypt hashes by user name, for HTTP basic authentication.
	Users map[string][]byte
	// TrustedHeader is the header an authenticating reverse proxy sets to
	// the signed-in user; it counts only on a connection from
	// TrustedProxies.
	TrustedHeader  string
	TrustedProxies []netip.Prefix
}

// loopbackListen reports whether a listen address (host:port) binds
// loopback only; an empty host binds every address.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// authorize returns 0 when r may be served, else the status and the reason
// to refuse it with.
//
// On a loopback listen address the console is open, but only to requests
// naming the console by a loopback name or an address: a web page the
// operator opens elsewhere could otherwise point its own host name at
// 127.0.0.1 (DNS rebinding) and read the console through the browser.
func (c *Console) authorize(r *http.Request) (int, string) {
	if c.open {
		if !localHost(r.Host) {
			return http.StatusForbidden, "the console listens on a loopback address and answers only to it (Host " + loopbackHint + ")"
		}
		return 0, ""
	}
	a := c.o.Access()
	if a.TrustedHeader != "" && r.Header.Get(a.TrustedHeader) != "" && fromProxy(r.RemoteAddr, a.TrustedProxies) {
		return 0, ""
	}
	if user, pass, ok := r.BasicAuth(); ok && len(a.Users) > 0 {
		if hash, known := a.Users[user]; known && c.auth.verify(user, pass, hash) {
			return 0, ""
		}
		return http.StatusUnauthorized, "wrong user name or password"
	}
	if len(a.Users) == 0 && a.TrustedHeader == "" {
		return http.StatusUnauthorized, "the console listens off loopback and no sign-in is configured: set daemon.console.htpasswd or daemon.console.trusted_header"
	}
	return http.StatusUnauthorized, "sign in to use the console"
}

const loopbackHint = "localhost, 127.0.0.1 or [::1]"

// localHost reports whether a Host header names a loopback name or an IP
// address.
func localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

// fromProxy reports whether remote (ip:port) is in one of the prefixes.
func fromProxy(remote string, proxies []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authCache remembers the credentials bcrypt has accepted, so that a page
// and its assets cost one slow comparison, not one each. It keeps digests,
// never passwords, and forgets everything when it grows past maxCached.
type authCache struct {
	mu sync.Mutex
	ok map[[32]byte]bool
}

const maxCached = 256

func (c *authCache) verify(user, pass string, hash []byte) bool {
	key := sha256.Sum256([]byte(user + "\x00" + pass + "\x00" + string(hash)))
	c.mu.Lock()
	hit := c.ok[key]
	c.mu.Unlock()
	if hit {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(pass)) != nil {
		return false
	}
	c.mu.Lock()
	if c.ok == nil || len(c.ok) >= maxCached {
		c.ok = map[[32]byte]bool{}
	}
	c.ok[key] = true
	c.mu.Unlock()
	return true
}
