package ldap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/licensing"
)

// startTLSOID names the StartTLS extended operation (RFC 4511 4.14).
const startTLSOID = "1.3.6.1.4.1.1466.20037"

// leanConn is a connection of its own for the paged user search, read with
// the lean decoder of ber.go instead of go-ldap's. It is used by one
// goroutine at a time; close may be called from any.
type leanConn struct {
	nc      net.Conn
	r       *bufio.Reader
	id      int64
	timeout time.Duration
}

func (c *leanConn) close() { c.nc.Close() }

// dialLean opens and binds a lean connection to u with the settings the
// source's go-ldap connection uses, and the same messages when that fails.
func (s *Source) dialLean(u string) (*leanConn, error) {
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("ldap: cannot reach %s (check url): %w", u, err)
	}
	host, port := p.Hostname(), p.Port()
	if port == "" {
		port = "389"
		if p.Scheme == "ldaps" {
			port = "636"
		}
	}
	timeout := s.cfg.Timeout.D()
	d := &net.Dialer{Timeout: timeout}
	var nc net.Conn
	if p.Scheme == "ldaps" {
		tc := s.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		nc, err = tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, port), tc)
	} else {
		nc, err = d.Dial("tcp", net.JoinHostPort(host, port))
	}
	if err != nil {
		if isTLS(err) {
			return nil, fmt.Errorf("ldap: %s: TLS handshake failed (check ca_file, and that the certificate names this host): %w", u, err)
		}
		return nil, fmt.Errorf("ldap: cannot reach %s (check url): %w", u, goldap.NewError(goldap.ErrorNetwork, err))
	}
	c := &leanConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), timeout: timeout}
	if s.cfg.StartTLS {
		if err := c.startTLS(s.tls, host); err != nil {
			nc.Close()
			return nil, fmt.Errorf("ldap: %s: StartTLS failed (check ca_file and start_tls): %w", u, err)
		}
	}
	if s.cfg.BindDN == "" {
		return c, nil
	}
	if err := c.bind(s.cfg.BindDN, s.cfg.BindPassword.Value()); err != nil {
		c.close()
		return nil, bindError(u, s.cfg.BindDN, err)
	}
	return c, nil
}

// startTLS asks for StartTLS and then runs the handshake on the connection.
func (c *leanConn) startTLS(base *tls.Config, host string) error {
	if err := c.roundTrip(opExtendedResp, berTLV(opExtendedRequest, berString(0x80, startTLSOID))); err != nil {
		return err
	}
	tc := base.Clone()
	tc.ServerName = host
	t := tls.Client(c.nc, tc)
	if err := t.Handshake(); err != nil {
		return err
	}
	c.nc, c.r = t, bufio.NewReaderSize(t, 64<<10)
	return nil
}

// bind makes a simple bind.
func (c *leanConn) bind(dn, password string) error {
	return c.roundTrip(opBindResponse, berTLV(opBindRequest, berInteger(tagInteger, 3), berString(tagOctetString, dn), berString(0x80, password)))
}

// roundTrip sends op and reads its one answer, which must be want with
// result code success.
func (c *leanConn) roundTrip(want byte, op []byte) error {
	id, err := c.send(op)
	if err != nil {
		return err
	}
	r, err := c.read(id)
	if err != nil {
		return err
	}
	if r.op != want {
		return fmt.Errorf("malformed response: BER tag %#x, want %#x", r.op, want)
	}
	if r.result.ResultCode != goldap.LDAPResultSuccess {
		return r.result
	}
	return nil
}

// send writes an LDAPMessage holding op and controls, and returns its ID.
func (c *leanConn) send(op []byte, controls ...[]byte) (int64, error) {
	c.id++
	parts := [][]byte{berInteger(tagInteger, c.id), op}
	if len(controls) > 0 {
		parts = append(parts, berTLV(tagControls, controls...))
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, goldap.NewError(goldap.ErrorNetwork, err)
	}
	if _, err := c.nc.Write(berTLV(tagSequence, parts...)); err != nil {
		return 0, goldap.NewError(goldap.ErrorNetwork, err)
	}
	return c.id, nil
}

// read reads the next message, which must answer request id.
func (c *leanConn) read(id int64) (response, error) {
	msg, err := readMessage(c.r)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return response{}, goldap.NewError(goldap.ErrorNetwork, err)
		}
		return response{}, err
	}
	r, err := parseResponse(msg)
	if err != nil {
		return r, fmt.Errorf("malformed response: %w", err)
	}
	if r.id == 0 && r.result != nil {
		// An unsolicited notification: the server is closing the connection.
		return r, goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("the server ended the connection: %w", r.result))
	}
	if r.id != id {
		return r, fmt.Errorf("malformed response: message %d answers no request of this connection (want %d)", r.id, id)
	}
	return r, nil
}

// pagedSearch runs the paged subtree search for users on a lean connection
// of its own, calling fn for each entry as its page arrives. Like search, it
// asks for the next page as soon as one arrives, so the server and the
// decoding work while fn runs. A connection lost on the way is a lostError.
func (s *Source) pagedSearch(ctx context.Context, base, filter string, attrs []string, fn func(*goldap.Entry) error) error {
	_, u := s.current()
	f, err := goldap.CompileFilter(filter)
	if err != nil {
		return searchError(u, base, 1, err)
	}
	c, err := s.dialLean(u)
	if err != nil {
		if goldap.IsErrorWithCode(err, goldap.ErrorNetwork) && !isTLS(err) {
			return &lostError{err}
		}
		return err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	fixed := [][]byte{
		berString(tagOctetString, base),
		berInteger(tagEnumerated, int64(goldap.ScopeWholeSubtree)),
		berInteger(tagEnumerated, int64(goldap.NeverDerefAliases)),
		berInteger(tagInteger, 0),
		berInteger(tagInteger, int64(s.cfg.Timeout.D()/time.Second)),
		{0x01, 0x01, 0x00}, // typesOnly FALSE
		f.Bytes(),
	}
	names := make([][]byte, len(attrs))
	for i, a := range attrs {
		names[i] = berString(tagOctetString, a)
	}
	req := berTLV(opSearchRequest, append(fixed, berTLV(tagSequence, names...))...)

	type page struct {
		entries []*goldap.Entry
		err     error
	}
	pages := make(chan page, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(pages)
		var cookie []byte
		for n := 1; ; n++ {
			entries, next, err := c.page(req, s.cfg.PageSize, cookie)
			if err != nil {
				err = searchError(u, base, n, err)
			}
			select {
			case pages <- page{entries, err}:
			case <-done:
				return
			}
			if err != nil || len(next) == 0 {
				return
			}
			cookie = next
		}
	}()
	for p := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
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

// page asks for one page of the search req and reads it: its entries and
// the cookie for the next page, empty after the last.
func (c *leanConn) page(req []byte, size int, cookie []byte) ([]*goldap.Entry, []byte, error) {
	value := berTLV(tagSequence, berInteger(tagInteger, int64(size)), berTLV(tagOctetString, cookie))
	paging := berTLV(tagSequence, berString(tagOctetString, goldap.ControlTypePaging), berTLV(tagOctetString, value))
	id, err := c.send(req, paging)
	if err != nil {
		return nil, nil, err
	}
	entries := make([]*goldap.Entry, 0, size)
	for {
		r, err := c.read(id)
		if err != nil {
			return nil, nil, err
		}
		switch r.op {
		case opSearchEntry:
			entries = append(entries, r.entry)
		case opSearchReference:
			// Referrals are not followed, as with go-ldap's search.
		case opSearchDone:
			if r.result.ResultCode != goldap.LDAPResultSuccess {
				return nil, nil, r.result
			}
			return entries, r.cookie, nil
		default:
			return nil, nil, fmt.Errorf("malformed response: BER tag %#x in a search", r.op)
		}
	}
}
