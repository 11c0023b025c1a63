package config

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Console configures who may use the help-desk console and its API when
// daemon.listen is not a loopback address; on a loopback address they are
// open to whoever can reach it, like /metrics.
type Console struct {
	// Htpasswd names a file of "user:bcrypt-hash" lines (htpasswd -B) that
	// HTTP basic authentication checks against.
	Htpasswd string `yaml:"htpasswd"`
	// TrustedHeader is the request header an authenticating reverse proxy
	// sets to the signed-in user (X-Forwarded-User, say); it is honoured
	// only on a connection from TrustedProxies.
	TrustedHeader string `yaml:"trusted_header"`
	// TrustedProxies are the addresses (CIDR, or a single address) the
	// proxies that set TrustedHeader connect from.
	TrustedProxies []string `yaml:"trusted_proxies"`

	users   map[string][]byte
	proxies []netip.Prefix
}

// Users returns the bcrypt hashes of the htpasswd file by user name, as
// read when the configuration was loaded.
func (c *Console) Users() map[string][]byte { return c.users }

// Proxies returns TrustedProxies, parsed.
func (c *Console) Proxies() []netip.Prefix { return c.proxies }

// check reads the password file and validates the section. Its messages
// never quote a hash.
func (c *Console) check(cfg *Config, e *Errors) {
	if c.Htpasswd != "" {
		c.users = readHtpasswd(cfg.Abs(c.Htpasswd), e)
	}
	if c.TrustedHeader != "" {
		if strings.IndexFunc(c.TrustedHeader, func(r rune) bool {
			return !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			e.add("daemon.console.trusted_header", 0, "%q is not a header name (letters, digits and '-', like X-Forwarded-User)", c.TrustedHeader)
		}
		if len(c.TrustedProxies) == 0 {
			e.add("daemon.console.trusted_proxies", 0, "is empty: name the addresses the proxy setting %s connects from (like [127.0.0.1/32]); from anywhere else the header is ignored", c.TrustedHeader)
		}
	} else if len(c.TrustedProxies) > 0 {
		e.add("daemon.console.trusted_proxies", 0, "is set but daemon.console.trusted_header is not: name the header the proxy sets")
	}
	for i, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				e.add("daemon.console.trusted_proxies", 0, "entry %d, %q, is not an address or a CIDR (like 10.0.0.0/8)", i+1, p)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		c.proxies = append(c.proxies, pfx.Masked())
	}
}

// readHtpasswd reads a file of "user:hash" lines, bcrypt hashes only:
// the weaker hashes htpasswd can also write (MD5, SHA-1, crypt) are
// refused.
func readHtpasswd(path string, e *Errors) map[string][]byte {
	const field = "daemon.console.htpasswd"
	data, err := os.ReadFile(path)
	if err != nil {
		e.add(field, 0, "cannot read the password file: %v", err)
		return nil
	}
	users := map[string][]byte{}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || name == "":
			e.add(field, 0, "%s line %d is not user:hash", path, n)
			bad++
			continue
		case users[name] != nil:
			e.add(field, 0, "%s line %d: user %q is listed twice", path, n, name)
			bad++
			continue
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			e.add(field, 0, "%s line %d: the hash of user %q is not bcrypt (write the file with htpasswd -B)", path, n, name)
			bad++
			continue
		}
		users[name] = []byte(hash)
	}
	if len(users) == 0 && bad == 0 {
		e.add(field, 0, "%s holds no user", path)
	}
	return users
}
