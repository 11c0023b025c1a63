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
	// page holds the messages of the last page read, back to back, and
	// ends where each one ends; entry is what each entry is decoded into.
	// All three are reused from page to page.
	page  []byte
	ends  []int
	entry entryBuf
	// pace is the paced TCP connection under nc, nil if there is none;
	// slack what TLS may hold between the two. expected is how many
	// entries a page holds (as many as the last one) and smallest the size
	// of the smallest entry read: pages are read on the expectation of at
	// least expected entries of at least that size.
	pace     *pacedConn
	slack    int
	expected int
	smallest int
}

// readBuffer is the size of a lean connection's read buffer: one read
// takes up to this much of what the server has sent, a good part of a page.
const readBuffer = 256 << 10

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
	tcp, err := d.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("ldap: cannot reach %s (check url): %w", u, goldap.NewError(goldap.ErrorNetwork, err))
	}
	paced := pace(tcp)
	nc := tcp
	if paced != nil {
		nc = paced
	}
	if p.Scheme == "ldaps" {
		tc := s.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		t := tls.Client(nc, tc)
		if err := handshake(t, timeout); err != nil {
			tcp.Close()
			if isTLS(err) {
				return nil, fmt.Errorf("ldap: %s: TLS handshake failed (check ca_file, and that the certificate names this host): %w", u, err)
			}
			return nil, fmt.Errorf("ldap: cannot reach %s (check url): %w", u, goldap.NewError(goldap.ErrorNetwork, err))
		}
		nc = t
	}
	c := &leanConn{nc: nc, r: bufio.NewReaderSize(nc, readBuffer), timeout: timeout, pace: paced}
	if p.Scheme == "ldaps" {
		c.slack = tlsSlack
	}
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
	if err := handshake(t, c.timeout); err != nil {
		return err
	}
	c.nc, c.r, c.slack = t, bufio.NewReaderSize(t, readBuffer), tlsSlack
	return nil
}

// handshake runs the TLS handshake of t within timeout.
func handshake(t *tls.Conn, timeout time.Duration) error {
	if err := t.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := t.Handshake(); err != nil {
		return err
	}
	return t.SetDeadline(time.Time{})
}

// tlsSlack is how many bytes TLS may have read from the connection and not
// yet handed on: about one record.
const tlsSlack = 17 << 10

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
		return response{}, readError(err)
	}
	r, err := parseResponse(msg)
	if err != nil {
		return r, fmt.Errorf("malformed response: %w", err)
	}
	return r, answers(r, id)
}

// readError marks a failure to read from the connection as a network error.
func readError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return goldap.NewError(goldap.ErrorNetwork, err)
	}
	return err
}

// answers checks that the response r answers request id.
func answers(r response, id int64) error {
	if r.id == 0 && r.result != nil {
		// An unsolicited notification: the server is closing the connection.
		return goldap.NewError(goldap.ErrorNetwork, fmt.Errorf("the server ended the connection: %w", r.result))
	}
	if r.id != id {
		return fmt.Errorf("malformed response: message %d answers no request of this connection (want %d)", r.id, id)
	}
	return nil
}

// pagedSearch runs the paged subtree search for users on a lean connection
// of its own, calling fn for each entry of each page. A page is read whole
// first, then the next one is asked for, and only then is this one decoded
// and handed to fn: the server prepares the next page while this one is
// decoded and used, with no goroutine between the socket and fn. The entry
// fn gets, with its byte values, is reused for the next one: fn may keep
// its strings, not the entry. A connection lost on the way is a lostError.
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

	// failed gives ctx's error when a read failed because ctx closed the
	// connection.
	failed := func(n int, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return searchError(u, base, n, err)
	}
	id, err := c.askPage(req, s.cfg.PageSize, nil)
	if err != nil {
		return failed(1, err)
	}
	for n := 1; ; n++ {
		cookie, err := c.readPage(id)
		if err != nil {
			return failed(n, err)
		}
		s.stats.Pages++
		licensing.Answered(ctx)
		var askErr error
		if len(cookie) > 0 {
			id, askErr = c.askPage(req, s.cfg.PageSize, cookie)
		}
		start := 0
		for _, end := range c.ends[:len(c.ends)-1] {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := decodeResponse(c.page[start:end], &c.entry)
			start = end
			if err != nil {
				return failed(n, fmt.Errorf("malformed response: %w", err))
			}
			if r.op != opSearchEntry {
				// Referrals are not followed, as with go-ldap's search.
				continue
			}
			if err := fn(r.entry); err != nil {
				return err
			}
		}
		if askErr != nil {
			return failed(n+1, askErr)
		}
		if len(cookie) == 0 {
			return ctx.Err()
		}
	}
}

// askPage asks for the page of the search req after cookie, the first one
// when cookie is empty, and returns the request's message ID.
func (c *leanConn) askPage(req []byte, size int, cookie []byte) (int64, error) {
	value := berTLV(tagSequence, berInteger(tagInteger, int64(size)), berTLV(tagOctetString, cookie))
	paging := berTLV(tagSequence, berString(tagOctetString, goldap.ControlTypePaging), berTLV(tagOctetString, value))
	return c.send(req, paging)
}

// readPage reads the answer to the page request id, up to and including
// its SearchResultDone, into c.page, checking only which request each
// message answers: pagedSearch decodes the entries later. It returns the
// paged results cookie, empty after the last page, a slice of c.page.
// The timeout runs from here, not from the request: the request went out
// before the previous page was used, which may have taken a while.
func (c *leanConn) readPage(id int64) ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, goldap.NewError(goldap.ErrorNetwork, err)
	}
	c.page, c.ends = c.page[:0], c.ends[:0]
	entries := 0
	for {
		start := len(c.page)
		if c.pace != nil {
			c.pace.expect = max(c.expected-entries, 0)*c.smallest - c.r.Buffered() - c.slack
		}
		page, err := appendMessage(c.r, c.page)
		c.page = page
		if err != nil {
			return nil, readError(err)
		}
		c.ends = append(c.ends, len(c.page))
		msg := c.page[start:]
		is, ie, err := berExpect(msg, 0, len(msg), tagInteger, "messageID")
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		mid, err := berInt(msg[is:ie])
		if err != nil {
			return nil, fmt.Errorf("malformed response: messageID: %w", err)
		}
		op, _, _, err := berElem(msg, ie, len(msg))
		if err != nil {
			return nil, fmt.Errorf("malformed response: protocolOp: %w", err)
		}
		if mid == id && (op == opSearchEntry || op == opSearchReference) {
			if op == opSearchEntry {
				entries++
				if c.smallest == 0 || len(msg) < c.smallest {
					c.smallest = len(msg)
				}
			}
			continue
		}
		r, err := parseResponse(msg)
		if err != nil {
			return nil, fmt.Errorf("malformed response: %w", err)
		}
		if err := answers(r, id); err != nil {
			return nil, err
		}
		if r.op != opSearchDone {
			return nil, fmt.Errorf("malformed response: BER tag %#x in a search", r.op)
		}
		if r.result.ResultCode != goldap.LDAPResultSuccess {
			return nil, r.result
		}
		if entries > 0 {
			c.expected = entries
		}
		return r.cookie, nil
	}
}
