package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/licensing"
)

// Dialects of directory server.
const (
	DialectAD       = "ad"
	DialectOpenLDAP = "openldap"
)

const (
	defaultPageSize = 500
	defaultTimeout  = 30 * time.Second
	// retries is how many times a lost connection is reopened in one pass.
	retries = 3
)

// Stats counts what the source read, over all passes.
type Stats struct {
	// Pages is the number of search result pages received.
	Pages int
	// Users is the number of users emitted.
	Users int
	// Removed is the number of deleted users reported by incremental passes.
	Removed int
}

// Source reads users from an LDAP directory. It keeps one connection open
// between passes; it is not safe for concurrent passes.
type Source struct {
	cfg     config.LDAPSource
	tls     *tls.Config
	log     *zap.Logger
	backoff time.Duration

	mu   sync.Mutex
	conn *goldap.Conn
	url  string

	stats Stats
	// templates holds one template per template group, to match groups
	// with; missing the ones already warned about as not found.
	templates []licensing.Template
	missing   map[string]bool
}

// Option changes how Open sets up a source.
type Option func(*Source)

// Open applies the dialect's defaults to cfg, connects to the first of its
// URLs that answers and binds.
func Open(ctx context.Context, cfg config.LDAPSource, log *zap.Logger, opts ...Option) (*Source, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = withDefaults(cfg)
	s := &Source{cfg: cfg, log: log, backoff: time.Second, missing: map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	if len(cfg.URLs) == 0 {
		return nil, errors.New("ldap: no server given (set url)")
	}
	warnPlaintext(cfg, log)
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: reading ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
	}
	s.tls = tc
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// warnPlaintext says, at every start, which servers insecure_plaintext lets
// the bind password reach in clear.
func warnPlaintext(cfg config.LDAPSource, log *zap.Logger) {
	if !cfg.InsecurePlaintext {
		return
	}
	for _, u := range cfg.URLs {
		if p, err := url.Parse(u); err == nil && cfg.Plaintext(p) {
			log.Warn("ldap: insecure_plaintext is set: the bind password and the directory's data cross the network in clear (use ldaps:// or start_tls: true)",
				zap.String("url", u))
		}
	}
}

// withDefaults fills what cfg leaves empty with the dialect's defaults.
func withDefaults(cfg config.LDAPSource) config.LDAPSource {
	cfg.Dialect = strings.ToLower(cfg.Dialect)
	if cfg.Dialect == "" {
		cfg.Dialect = DialectAD
	}
	a := &cfg.Attributes
	if cfg.Dialect == DialectAD {
		cfg.Filter = or(cfg.Filter, "(&(objectCategory=person)(objectClass=user))")
		a.ID = or(a.ID, "objectGUID")
	} else {
		cfg.Filter = or(cfg.Filter, "(objectClass=inetOrgPerson)")
		a.ID = or(a.ID, "entryUUID")
	}
	a.Email = or(a.Email, "mail")
	a.DisplayName = or(a.DisplayName, "displayName")
	a.WorkPhone = or(a.WorkPhone, "telephoneNumber")
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.Duration(defaultTimeout)
	}
	return cfg
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Stats returns the counts so far; call it between passes.
func (s *Source) Stats() Stats { return s.stats }

// Traffic returns the request counts so far, for the service's metrics: one
// request per page of search results; LDAP has no retries or throttling to
// count.
func (s *Source) Traffic() licensing.Traffic {
	return licensing.Traffic{Requests: int64(s.stats.Pages)}
}

// Close closes the connection.
func (s *Source) Close() error {
	s.closeConn()
	return nil
}

func (s *Source) closeConn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
	}
}

func (s *Source) current() (*goldap.Conn, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn, s.url
}

// connect opens and binds a connection to the first URL that answers.
func (s *Source) connect(ctx context.Context) error {
	var errs []error
	for _, u := range s.cfg.URLs {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := s.dial(u)
		if err == nil {
			s.mu.Lock()
			s.conn, s.url = c, u
			s.mu.Unlock()
			return nil
		}
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Source) dial(u string) (*goldap.Conn, error) {
	timeout := s.cfg.Timeout.D()
	c, err := goldap.DialURL(u, goldap.DialWithDialer(&net.Dialer{Timeout: timeout}), goldap.DialWithTLSConfig(s.tls.Clone()))
	if err != nil {
		if isTLS(err) {
			return nil, fmt.Errorf("ldap: %s: TLS handshake failed (check ca_file, and that the certificate names this host): %w", u, err)
		}
		return nil, fmt.Errorf("ldap: cannot reach %s (check url): %w", u, err)
	}
	c.SetTimeout(timeout)
	if s.cfg.StartTLS {
		tc := s.tls.Clone()
		if p, err := url.Parse(u); err == nil {
			tc.ServerName = p.Hostname()
		}
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: %s: StartTLS failed (check ca_file and start_tls): %w", u, err)
		}
	}
	if s.cfg.BindDN == "" {
		return c, nil
	}
	if err := c.Bind(s.cfg.BindDN, s.cfg.BindPassword.Value()); err != nil {
		c.Close()
		return nil, bindError(u, s.cfg.BindDN, err)
	}
	return c, nil
}

// bindError says which setting a failed bind points at; both connections
// the source opens bind the same way.
func bindError(u, bindDN string, err error) error {
	if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
		return fmt.Errorf("ldap: %s: the server rejected bind_dn %q with the given password (check bind_dn and bind_password): %w", u, bindDN, err)
	}
	return fmt.Errorf("ldap: %s: bind as %q: %w", u, bindDN, err)
}

func isTLS(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &unknown) ||
		errors.As(err, &hostname) || errors.As(err, &invalid)
}

// emitError carries an error returned by emit, which Users returns as is.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// lostError marks a failure that reopening the connection may cure.
type lostError struct{ err error }

func (e *lostError) Error() string { return e.err.Error() }
func (e *lostError) Unwrap() error { return e.err }

// Users implements the sync.Source port.
func (s *Source) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	stop := context.AfterFunc(ctx, s.closeConn)
	defer stop()
	for attempt := 0; ; attempt++ {
		next, full, err := s.attempt(ctx, since, emit)
		if err == nil {
			return next, full, nil
		}
		if ee := (*emitError)(nil); errors.As(err, &ee) {
			return "", false, ee.err
		}
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		var lost *lostError
		if !errors.As(err, &lost) {
			return "", false, err
		}
		if attempt == retries {
			return "", false, fmt.Errorf("ldap: gave up after reconnecting %d times: %w", retries, lost.err)
		}
		wait := s.backoff << attempt
		s.log.Warn("ldap connection lost, restarting the pass", zap.Error(lost.err), zap.Duration("wait", wait), zap.Int("attempt", attempt+1))
		s.closeConn()
		if err := licensing.Sleep(ctx, wait); err != nil {
			return "", false, err
		}
	}
}

// attempt runs one pass, reconnecting first when the connection is gone.
func (s *Source) attempt(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	if c, _ := s.current(); c == nil || c.IsClosing() {
		if err := s.connect(ctx); err != nil {
			if goldap.IsErrorWithCode(err, goldap.ErrorNetwork) && !isTLS(err) {
				return "", false, &lostError{err}
			}
			return "", false, err
		}
	}
	p := &pass{s: s, emit: emit, emitted: map[string]bool{}}
	return p.run(ctx, since)
}

// search runs one paged search with the extra controls, calling fn for
// each entry as its page arrives. The next page is asked for as soon as one
// arrives, so the server and the decoding work while fn runs.
func (s *Source) search(ctx context.Context, base string, scope int, filter string, attrs []string, fn func(*goldap.Entry) error, extra ...goldap.Control) error {
	type page struct {
		entries []*goldap.Entry
		err     error
	}
	pages := make(chan page, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(pages)
		send := func(p page) bool {
			select {
			case pages <- p:
				return true
			case <-done:
				return false
			}
		}
		conn, u := s.current()
		paging := goldap.NewControlPaging(uint32(s.cfg.PageSize))
		controls := append([]goldap.Control{paging}, extra...)
		limit := int(s.cfg.Timeout.D() / time.Second)
		for n := 1; ; n++ {
			if ctx.Err() != nil {
				return
			}
			req := goldap.NewSearchRequest(base, scope, goldap.NeverDerefAliases, 0, limit, false, filter, attrs, controls)
			res, err := conn.Search(req)
			if err != nil {
				send(page{err: lostIfClosed(conn, searchError(u, base, n, err))})
				return
			}
			if !send(page{entries: res.Entries}) {
				return
			}
			ctrl, _ := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
			if ctrl == nil || len(ctrl.Cookie) == 0 {
				return
			}
			paging.SetCookie(ctrl.Cookie)
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		s.stats.Pages++
		licensing.Answered(ctx)
		for _, e := range p.entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// entry reads the one entry dn if it matches filter; it returns nil when
// the entry does not match or does not exist.
func (s *Source) entry(dn, filter string, attrs []string) (*goldap.Entry, error) {
	conn, u := s.current()
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, int(s.cfg.Timeout.D()/time.Second), false, filter, attrs, nil)
	res, err := conn.Search(req)
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil, nil
	}
	if err != nil {
		return nil, lostIfClosed(conn, searchError(u, dn, 1, err))
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	return res.Entries[0], nil
}

// lostIfClosed marks err as a lost connection when conn closed under the
// request: go-ldap reports a connection dropped while an answer was awaited
// with a plain error, without a result code.
func lostIfClosed(conn *goldap.Conn, err error) error {
	if conn.IsClosing() && !isLost(err) {
		return &lostError{err}
	}
	return err
}

func searchError(u, base string, page int, err error) error {
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return fmt.Errorf("ldap: %s: %q does not exist on this server (check base_dn and group_base_dn): %w", u, base, err)
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return fmt.Errorf("ldap: %s: page %d: the server's size limit ended the search although it was paged (raise the size limit for bind_dn on the server): %w", u, page, err)
	case goldap.IsErrorWithCode(err, goldap.LDAPResultReferral):
		return fmt.Errorf("ldap: %s: the server refers %q elsewhere and referrals are not followed (point url at a server holding base_dn): %w", u, base, err)
	case goldap.IsErrorWithCode(err, goldap.ErrorNetwork), goldap.IsErrorWithCode(err, goldap.LDAPResultUnavailable),
		goldap.IsErrorWithCode(err, goldap.LDAPResultBusy), goldap.IsErrorWithCode(err, goldap.LDAPResultServerDown):
		return &lostError{fmt.Errorf("ldap: %s: page %d: %w", u, page, err)}
	}
	return fmt.Errorf("ldap: %s: page %d of the search under %q: %w", u, page, base, err)
}
