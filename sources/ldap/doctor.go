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
	"slices"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/licensync/licensync/config"
	"github.com/licensync/licensync/doctor"
)

// Doctor checks what a pass needs of the directory: each URL reached, its
// certificate verified and the bind accepted; then, on the first server
// that bound, base_dn and the group base, the template groups, each mapped
// attribute on a user, and on AD what an incremental pass asks of the
// domain controller (memberOf, DirSync, Deleted Objects), each with the
// right the bind account lacks, as AD names it. It only reads.
func Doctor(ctx context.Context, cfg config.LDAPSource, templateGroups []string) []doctor.Check {
	cfg = withDefaults(cfg)
	s := &Source{cfg: cfg, log: zap.NewNop(), missing: map[string]bool{}}
	TemplateGroups(templateGroups...)(s)
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	var checks []doctor.Check
	if cfg.CAFile != "" {
		tried := "read ca_file " + cfg.CAFile
		pool, err := readCAFile(cfg.CAFile)
		if err != nil {
			return append(checks, doctor.Fail("ldap ca_file", tried, err.Error(), "set ca_file to a PEM file holding the CA that signed the servers' certificates"))
		}
		tc.RootCAs = pool
		checks = append(checks, doctor.Pass("ldap ca_file", tried, "holds PEM certificates"))
	}
	s.tls = tc
	var bound *goldap.Conn
	for _, u := range cfg.URLs {
		c, uc := s.probeServer(ctx, u)
		checks = append(checks, uc...)
		if c != nil && bound == nil {
			bound, s.conn, s.url = c, c, u
		} else if c != nil {
			c.Close()
		}
	}
	if bound == nil {
		return checks
	}
	defer bound.Close()
	return append(checks, s.probeDirectory(ctx)...)
}

func readCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// probeServer checks one URL: the TCP connection, TLS when the URL or
// start_tls asks for it, and the bind. It returns the bound connection.
func (s *Source) probeServer(ctx context.Context, u string) (*goldap.Conn, []doctor.Check) {
	timeout := s.cfg.Timeout.D()
	p, err := url.Parse(u)
	if err != nil {
		return nil, []doctor.Check{doctor.Fail("ldap server "+u, "parse "+u, err.Error(), "set url to a server like ldaps://dc1.example.com")}
	}
	host := p.Host
	if p.Port() == "" {
		port := "389"
		if p.Scheme == "ldaps" {
			port = "636"
		}
		host = net.JoinHostPort(p.Hostname(), port)
	}
	name := "ldap server " + u
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, []doctor.Check{doctor.Fail(name, "connect to "+host+" over TCP", err.Error(),
			"check url (host and port), DNS, and that no firewall stands between this host and the server")}
	}
	nc.Close()
	checks := []doctor.Check{doctor.Pass(name, "connect to "+host+" over TCP", "reachable")}
	c, err := goldap.DialURL(u, goldap.DialWithDialer(&d), goldap.DialWithTLSConfig(s.tls.Clone()))
	if err != nil {
		if p.Scheme == "ldaps" && isTLS(err) {
			return nil, append(checks, tlsFailure("ldap TLS "+u, "TLS handshake with "+host, err))
		}
		return nil, append(checks, doctor.Fail("ldap connection "+u, "open an LDAP connection to "+u, err.Error(), "check url, and that the port speaks LDAP (ldaps:// for 636)"))
	}
	c.SetTimeout(timeout)
	switch {
	case s.cfg.StartTLS:
		tc := s.tls.Clone()
		tc.ServerName = p.Hostname()
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, append(checks, tlsFailure("ldap TLS "+u, "StartTLS with "+host, err))
		}
		checks = append(checks, tlsPass("ldap TLS "+u, "StartTLS with "+host, c))
	case p.Scheme == "ldaps":
		checks = append(checks, tlsPass("ldap TLS "+u, "TLS handshake with "+host, c))
	}
	if s.cfg.BindDN == "" {
		return c, append(checks, doctor.Pass("ldap bind "+u, "no bind_dn: anonymous", "the server answers anonymously"))
	}
	tried := fmt.Sprintf("simple bind as %q", s.cfg.BindDN)
	if err := c.Bind(s.cfg.BindDN, s.cfg.BindPassword.Value()); err != nil {
		c.Close()
		return nil, append(checks, bindFailure("ldap bind "+u, tried, err))
	}
	return c, append(checks, doctor.Pass("ldap bind "+u, tried, "accepted"))
}

func tlsPass(name, tried string, c *goldap.Conn) doctor.Check {
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		return doctor.Pass(name, tried, "verified")
	}
	leaf := st.PeerCertificates[0]
	return doctor.Pass(name, tried, fmt.Sprintf("certificate %q verified, expires %s", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly)))
}

// tlsFailure names what is wrong with the server's certificate and what
// fixes it.
func tlsFailure(name, tried string, err error) doctor.Check {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		detail := "the certificate is signed by an unknown authority"
		if unknown.Cert != nil {
			detail += fmt.Sprintf(" (issuer %q)", unknown.Cert.Issuer.String())
		}
		return doctor.Fail(name, tried, detail, "set ca_file to a PEM file holding the CA that signed the server's certificate")
	case errors.As(err, &hostname):
		names := hostname.Certificate.DNSNames
		for _, ip := range hostname.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		return doctor.Fail(name, tried, fmt.Sprintf("the certificate names %s, not %s", strings.Join(names, ", "), hostname.Host),
			"use a url with a host name the certificate carries, or reissue the certificate with this name")
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return doctor.Fail(name, tried, fmt.Sprintf("the certificate expired on %s", invalid.Cert.NotAfter.UTC().Format(time.DateOnly)),
			"renew the server's certificate")
	case errors.As(err, &invalid):
		return doctor.Fail(name, tried, "the certificate is not valid: "+invalid.Error(), "reissue the server's certificate")
	}
	// go-ldap's StartTLS hands the handshake error back as text only.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return doctor.Fail(name, tried, "the certificate is signed by an unknown authority", "set ca_file to a PEM file holding the CA that signed the server's certificate")
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: certificate is not valid for any names"):
		i := strings.Index(msg, "x509: certificate is")
		return doctor.Fail(name, tried, "the certificate names another host: "+strings.TrimSuffix(msg[i+len("x509: "):], ")"),
			"use a url with a host name the certificate carries, or reissue the certificate with this name")
	case strings.Contains(msg, "x509: certificate has expired"):
		return doctor.Fail(name, tried, "the certificate has expired", "renew the server's certificate")
	}
	return doctor.Fail(name, tried, msg, "check ca_file, start_tls, and that the server offers TLS on this port")
}

// adBindReasons are the data codes in an AD bind refusal: the account's
// state, which a wrong password and an expired one hide behind the same
// result code.
var adBindReasons = map[string][2]string{
	"52e": {"wrong password (or bind_dn)", "check bind_dn and bind_password"},
	"525": {"no such account", "check bind_dn"},
	"530": {"the account may not log on at this time", "lift the account's logon hours restriction"},
	"531": {"the account may not log on from this workstation", "lift the account's workstation restriction"},
	"532": {"the account's password has expired", "set a new password and update bind_password; consider a password that does not expire for this service account"},
	"533": {"the account is disabled", "enable the account"},
	"701": {"the account has expired", "extend the account's expiry date"},
	"773": {"the account must change its password at next logon", "set a new password and clear 'must change password at next logon'"},
	"775": {"the account is locked out", "unlock the account, then check that nothing else uses an old password"},
}

func bindFailure(name, tried string, err error) doctor.Check {
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode == goldap.LDAPResultInvalidCredentials {
		msg := le.Err.Error()
		for code, r := range adBindReasons {
			if strings.Contains(msg, "data "+code) {
				return doctor.Fail(name, tried, "refused: "+r[0]+" (AD data "+code+")", r[1])
			}
		}
		return doctor.Fail(name, tried, "refused: invalid credentials", "check bind_dn and bind_password")
	}
	return doctor.Fail(name, tried, err.Error(), "check bind_dn, and that the server allows a simple bind over this connection (AD asks for TLS: ldaps:// or start_tls)")
}

// probeDirectory checks, on the bound connection, what a pass reads.
func (s *Source) probeDirectory(ctx context.Context) []doctor.Check {
	cfg := s.cfg
	var checks []doctor.Check
	base := s.probeEntry("ldap base_dn", cfg.BaseDN, "set base_dn to the subtree holding the users, and check that the bind account can read it")
	checks = append(checks, base)
	if !base.OK {
		return checks
	}
	dse, err := s.entry("", "(objectClass=*)", []string{"namingContexts", "defaultNamingContext"})
	if err != nil || dse == nil {
		dse = &goldap.Entry{}
	}
	groupBase := or(cfg.GroupBaseDN, or(namingContext(dse, cfg.BaseDN), cfg.BaseDN))
	gb := s.probeEntry("ldap group_base_dn", groupBase, "set group_base_dn to the subtree holding the template groups")
	if cfg.GroupBaseDN == "" {
		gb.Tried += " (no group_base_dn: the naming context holding base_dn)"
	}
	checks = append(checks, gb)
	if gb.OK {
		checks = append(checks, s.probeGroups(ctx, groupBase)...)
	}
	checks = append(checks, s.probeAttributes()...)
	if cfg.Dialect != DialectAD {
		return checks
	}
	nc := dse.GetAttributeValue("defaultNamingContext")
	if nc == "" || !under(cfg.BaseDN, nc) {
		nc = namingContext(dse, cfg.BaseDN)
	}
	return append(checks, s.probeMemberOf(), s.probeDirSync(nc), s.probeDeleted(nc))
}

// probeEntry checks that dn exists and the bind account can read it.
func (s *Source) probeEntry(name, dn, fix string) doctor.Check {
	tried := fmt.Sprintf("read %q", dn)
	e, err := s.entry(dn, "(objectClass=*)", []string{"1.1"})
	switch {
	case err != nil:
		return doctor.Fail(name, tried, err.Error(), fix)
	case e == nil:
		return doctor.Fail(name, tried, "no such entry, or the bind account may not see it", fix)
	}
	return doctor.Pass(name, tried, "exists")
}

// probeGroups reads the groups under base as a pass does and checks each
// template group is among them.
func (s *Source) probeGroups(ctx context.Context, base string) []doctor.Check {
	if len(s.templates) == 0 {
		return nil
	}
	filter := "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
	if s.cfg.Dialect == DialectAD {
		filter = "(objectClass=group)"
	}
	found := make([]bool, len(s.templates))
	dns := make([]string, len(s.templates))
	n := 0
	err := s.search(ctx, base, goldap.ScopeWholeSubtree, filter, []string{"1.1"}, func(e *goldap.Entry) error {
		n++
		before := slices.Clone(found)
		s.findTemplates(e.DN, found)
		for i := range found {
			if found[i] && !before[i] {
				dns[i] = e.DN
			}
		}
		return nil
	})
	tried := fmt.Sprintf("search %s under %q", filter, base)
	if err != nil {
		return []doctor.Check{doctor.Fail("ldap groups", tried, err.Error(), "grant the bind account read access to the groups under "+base)}
	}
	var checks []doctor.Check
	for i, t := range s.templates {
		name := fmt.Sprintf("ldap template group %q", t.Name)
		if found[i] {
			checks = append(checks, doctor.Pass(name, tried, "found: "+dns[i]))
			continue
		}
		checks = append(checks, doctor.Fail(name, tried, fmt.Sprintf("not among the %d group(s) read", n),
			"name the group in the template by its name (cn) or DN, and check that group_base_dn holds it"))
	}
	return checks
}

// probeAttributes checks that a user under base_dn matches the filter, and
// that each mapped attribute is found on a user: an attribute no user
// carries is misspelt or unreadable to the bind account.
func (s *Source) probeAttributes() []doctor.Check {
	cfg := s.cfg
	tried := fmt.Sprintf("search %s under %q for one user", cfg.Filter, cfg.BaseDN)
	e, err := s.first(cfg.BaseDN, cfg.Filter, []string{"1.1"})
	if err != nil {
		return []doctor.Check{doctor.Fail("ldap users", tried, err.Error(), "check filter and base_dn")}
	}
	if e == nil {
		return []doctor.Check{doctor.Fail("ldap users", tried, "no user matches", "check filter and base_dn, and that the bind account may read the users")}
	}
	checks := []doctor.Check{doctor.Pass("ldap users", tried, "e.g. "+e.DN)}
	a := cfg.Attributes
	for _, m := range []struct{ field, attr string }{{"id", a.ID}, {"email", a.Email}, {"display_name", a.DisplayName}, {"work_phone", a.WorkPhone}} {
		name := fmt.Sprintf("ldap attribute %s (%s)", m.attr, m.field)
		tried := fmt.Sprintf("search (&%s(%s=*)) under %q for one user", cfg.Filter, m.attr, cfg.BaseDN)
		e, err := s.first(cfg.BaseDN, fmt.Sprintf("(&%s(%s=*))", cfg.Filter, m.attr), []string{m.attr})
		switch {
		case err != nil:
			checks = append(checks, doctor.Fail(name, tried, err.Error(), "check attributes."+m.field))
		case e == nil || len(e.GetEqualFoldRawAttributeValue(m.attr)) == 0:
			checks = append(checks, doctor.Fail(name, tried, "no user carries it that the bind account can read",
				fmt.Sprintf("check attributes.%s (the attribute's LDAP name), and grant the bind account Read Property on %s", m.field, m.attr)))
		default:
			checks = append(checks, doctor.Pass(name, tried, "read on "+e.DN))
		}
	}
	return checks
}

// first returns one entry under base matching filter, or nil.
func (s *Source) first(base, filter string, attrs []string) (*goldap.Entry, error) {
	conn, u := s.current()
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 1, int(s.cfg.Timeout.D()/time.Second), false, filter, attrs, nil)
	res, err := conn.Search(req)
	if res != nil && len(res.Entries) > 0 {
		return res.Entries[0], nil
	}
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return nil, searchError(u, base, 1, err)
	}
	return nil, nil
}

// probeMemberOf checks that the bind account reads memberOf on the users,
// which a pass takes the group memberships from.
func (s *Source) probeMemberOf() doctor.Check {
	cfg := s.cfg
	tried := fmt.Sprintf("search (&%s(memberOf=*)) under %q for one user", cfg.Filter, cfg.BaseDN)
	e, err := s.first(cfg.BaseDN, fmt.Sprintf("(&%s(memberOf=*))", cfg.Filter), []string{"memberOf"})
	if err != nil {
		return doctor.Fail("ad memberOf", tried, err.Error(), "grant the bind account Read Group Membership on the users")
	}
	if e == nil || len(e.GetAttributeValues("memberOf")) == 0 {
		return doctor.Fail("ad memberOf", tried, "no user shows memberOf to the bind account",
			"grant the bind account Read Group Membership (the Membership property set) on the users under base_dn")
	}
	return doctor.Pass("ad memberOf", tried, "read on "+e.DN)
}

// probeDirSync runs the DirSync a full pass runs, over a filter nothing
// matches: an incremental pass asks it which members left the groups.
func (s *Source) probeDirSync(nc string) doctor.Check {
	tried := fmt.Sprintf("DirSync (object security, incremental values) over the groups of %q", nc)
	if nc == "" {
		return doctor.Fail("ad DirSync", "read defaultNamingContext from the rootDSE", "base_dn is under no naming context the server shows",
			"check base_dn")
	}
	conn, _ := s.current()
	req := goldap.NewSearchRequest(nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, int(s.cfg.Timeout.D().Seconds()), false,
		"(&(objectClass=group)(!(objectClass=group)))", []string{"member"}, []goldap.Control{goldap.NewRequestControlDirSync(dirSyncFlags, 0, nil)})
	res, err := conn.Search(req)
	if err == nil {
		if rc, _ := goldap.FindControl(res.Controls, goldap.ControlTypeDirSync).(*goldap.ControlDirSync); rc != nil && len(rc.Cookie) > 0 {
			return doctor.Pass("ad DirSync", tried, "allowed")
		}
		return doctor.Fail("ad DirSync", tried, "the domain controller answered without a DirSync cookie",
			"grant the bind account Replicating Directory Changes on "+nc)
	}
	return doctor.Fail("ad DirSync", tried, err.Error(),
		"grant the bind account Replicating Directory Changes on "+nc+"; without it users removed from a group wait for the next full pass")
}

// probeDeleted checks that the bind account lists the Deleted Objects
// container, where an incremental pass finds the users deleted since. A
// domain in use always holds some tombstone (deleted within the tombstone
// lifetime), and an account without List Contents on the container sees
// none.
func (s *Source) probeDeleted(nc string) doctor.Check {
	dn := "CN=Deleted Objects," + nc
	tried := fmt.Sprintf("list %q with the Show Deleted control", dn)
	conn, _ := s.current()
	show := goldap.NewControlString(goldap.ControlTypeMicrosoftShowDeleted, true, "")
	req := goldap.NewSearchRequest(dn, goldap.ScopeSingleLevel, goldap.NeverDerefAliases, 1, int(s.cfg.Timeout.D().Seconds()), false,
		"(isDeleted=TRUE)", []string{"1.1"}, []goldap.Control{show})
	res, err := conn.Search(req)
	fix := fmt.Sprintf("grant the bind account List Contents and Read Property on %s (as its owner: dsacls %q /takeownership, then dsacls %q /G DOMAIN\\account:LCRP); without them users deleted from the directory wait for the next full pass", dn, dn, dn)
	if res != nil && len(res.Entries) > 0 {
		return doctor.Pass("ad Deleted Objects", tried, "listable")
	}
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) && !goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return doctor.Fail("ad Deleted Objects", tried, err.Error(), fix)
	}
	return doctor.Fail("ad Deleted Objects", tried,
		"no deleted object visible: the bind account lacks List Contents on "+dn+" (unless nothing was deleted within the tombstone lifetime)", fix)
}
