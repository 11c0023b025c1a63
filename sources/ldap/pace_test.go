//go:build linux

package ldap

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// pacedPair returns a paced client connection and the server's end of it.
func pacedPair(t *testing.T) (*pacedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); srv.Close() })
	p := pace(c)
	if p == nil {
		t.Fatal("no paced connection on Linux")
	}
	return p, srv
}

func TestAPacedReadTakesWhatCameWhenLessCameThanExpected(t *testing.T) {
	p, srv := pacedPair(t)
	p.expect = 64 << 10
	if _, err := srv.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	must(t, p.SetReadDeadline(time.Now().Add(10*time.Second)))
	start := time.Now()
	n, err := p.Read(make([]byte, 256<<10))
	if err != nil || n != 1000 {
		t.Fatalf("read %d bytes, %v; want the 1000 sent", n, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %v for bytes that had come", waited)
	}
	if p.expect != 64<<10-1000 {
		t.Errorf("still expects %d bytes, want %d", p.expect, 64<<10-1000)
	}
	// The next read expects fewer than the kernel is asked to wait for:
	// it takes the next bytes as they come.
	p.expect = 0
	if _, err := srv.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Read(make([]byte, 16)); err != nil || n != 1 {
		t.Fatalf("read %d bytes, %v; want the 1 sent", n, err)
	}
}

func TestThePacedReadKeepsTheCallersDeadline(t *testing.T) {
	p, _ := pacedPair(t)
	p.expect = 64 << 10
	must(t, p.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	start := time.Now()
	n, err := p.Read(make([]byte, 256<<10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, error %v; want the deadline's", n, err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the caller's deadline", waited)
	}
}

func TestTheKernelIsAskedToWaitForAPowerOfTwoOfTheExpectedBytes(t *testing.T) {
	tests := []struct{ expect, want int }{
		{-5, 1}, {0, 1}, {2047, 1}, {2048, 2048}, {5000, 4096}, {100 << 10, 64 << 10}, {1 << 30, maxLowat},
	}
	for _, tt := range tests {
		if got := lowatFor(tt.expect); got != tt.want {
			t.Errorf("lowatFor(%d) = %d, want %d", tt.expect, got, tt.want)
		}
	}
}
