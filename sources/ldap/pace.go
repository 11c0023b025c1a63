package ldap

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// A server sends a page of the user search as one write per entry, and a
// reader woken for each spends more on waking than on reading: with the
// wake-ups of Go's network poller, most of a full pass's CPU, taken from
// the server on a small machine. pacedConn asks the kernel (SO_RCVLOWAT)
// to wake the reader only once as many bytes are queued as the page is
// sure to still send: a few wake-ups a page instead of one per entry or
// two. When fewer arrive than expected (the last page is short), a short
// wait ends and the reader takes what is there.

// maxLowat bounds how many bytes the reader waits for before it is woken.
const maxLowat = 128 << 10

// paceWait bounds how long the reader waits for bytes it expected and that
// did not come, before taking what is there.
const paceWait = 2 * time.Millisecond

// pacedConn is the TCP connection under the paged user search.
type pacedConn struct {
	net.Conn
	raw syscall.RawConn
	// expect is how many more bytes the page being read is sure to hold;
	// the page reader sets it, each read takes off what it got.
	expect int
	// lowat is the SO_RCVLOWAT in force; deadline the caller's.
	lowat    int
	deadline time.Time
}

// pace wraps nc in a pacedConn when it is a TCP connection on a system
// that has SO_RCVLOWAT, and returns nil otherwise.
func pace(nc net.Conn) *pacedConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok || !canPace {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &pacedConn{Conn: nc, raw: raw, lowat: 1}
}

// Read reads what is queued; when nothing is, it waits until as many
// bytes as expected are, or for paceWait at most (less if the caller's
// deadline comes first), then takes what is there.
func (p *pacedConn) Read(b []byte) (int, error) {
	if want := lowatFor(min(p.expect, len(b))); want != p.lowat {
		if err := p.setLowat(want); err != nil {
			return 0, err
		}
	}
	if p.lowat > 1 {
		wait := time.Now().Add(paceWait)
		if !p.deadline.IsZero() && p.deadline.Before(wait) {
			wait = p.deadline
		}
		if err := p.Conn.SetReadDeadline(wait); err != nil {
			return 0, err
		}
		n, err := p.Conn.Read(b)
		if err := p.Conn.SetReadDeadline(p.deadline); err != nil {
			return n, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			p.expect -= n
			return n, err
		}
		if err := p.setLowat(1); err != nil {
			return 0, err
		}
	}
	n, err := p.Conn.Read(b)
	p.expect -= n
	return n, err
}

// lowatFor gives the SO_RCVLOWAT to wait for n bytes: a power of two, so
// that it changes a few times a page, not at every read; 1 below a few
// entries' worth.
func lowatFor(n int) int {
	if n < 2<<10 {
		return 1
	}
	w := 2 << 10
	for w*2 <= n && w < maxLowat {
		w *= 2
	}
	return w
}

// setLowat sets SO_RCVLOWAT to n.
func (p *pacedConn) setLowat(n int) error {
	var serr error
	if err := p.raw.Control(func(fd uintptr) { serr = setRcvLowat(fd, n) }); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	p.lowat = n
	return nil
}

// SetDeadline records the caller's deadline, for Read to restore.
func (p *pacedConn) SetDeadline(t time.Time) error {
	p.deadline = t
	return p.Conn.SetDeadline(t)
}

// SetReadDeadline records the caller's deadline, for Read to restore.
func (p *pacedConn) SetReadDeadline(t time.Time) error {
	p.deadline = t
	return p.Conn.SetReadDeadline(t)
}
