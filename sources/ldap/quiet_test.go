package ldap

import (
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensync/licensync/licensing"
)

// quietBudget is the most requests an incremental pass that finds nothing
// changed may send, whatever the size of the directory.
const quietBudget = 50

// countingProxy relays LDAP connections to a server and counts the messages
// clients send: every request, the binds included.
type countingProxy struct {
	url  string
	sent atomic.Int64
}

func startCountingProxy(t testing.TB, server string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	p := &countingProxy{url: "ldap://" + l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.DialTimeout("tcp", strings.TrimPrefix(server, "ldap://"), 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(c, s); c.Close() }()
			go func() { p.count(c, s); s.Close() }()
		}
	}()
	return p
}

// count copies what the client sends to the server, counting each LDAP
// message by its BER envelope: a SEQUENCE tag, then its length.
func (p *countingProxy) count(from io.Reader, to io.Writer) {
	var head [6]byte
	for {
		if _, err := io.ReadFull(from, head[:2]); err != nil {
			return
		}
		n, hl := int(head[1]), 2
		if n&0x80 != 0 {
			k := n & 0x7f
			if k == 0 || k > 4 {
				return
			}
			if _, err := io.ReadFull(from, head[2:2+k]); err != nil {
				return
			}
			n = 0
			for _, b := range head[2 : 2+k] {
				n = n<<8 | int(b)
			}
			hl += k
		}
		p.sent.Add(1)
		if _, err := to.Write(head[:hl]); err != nil {
			return
		}
		if _, err := io.CopyN(to, from, int64(n)); err != nil {
			return
		}
	}
}

func TestAQuietIncrementalPassSendsTheSameFewRequestsWhateverTheDirectorysSize(t *testing.T) {
	sent := map[int]int64{}
	for _, n := range []int{1000, 10000} {
		srv := startSlapd(t, directory(n), options{})
		proxy := startCountingProxy(t, srv.url)
		cfg := srv.config(DialectOpenLDAP, people)
		cfg.URLs = []string{proxy.url}
		cfg.GroupBaseDN = groups
		src, err := Open(context.Background(), cfg, nil)
		must(t, err)
		defer src.Close()
		read := func(since string) (string, bool, int) {
			users := 0
			next, full, err := src.Users(context.Background(), since, func(licensing.DirectoryUser) error { users++; return nil })
			must(t, err)
			return next, full, users
		}
		cp, _, users := read("")
		if users != n {
			t.Fatalf("the full pass read %d users, want %d", users, n)
		}
		before := proxy.sent.Load()
		if _, full, users := read(cp); full || users != 0 {
			t.Fatalf("the quiet pass: full %v, %d users; want an incremental pass that reads nobody", full, users)
		}
		sent[n] = proxy.sent.Load() - before
		if sent[n] >= quietBudget {
			t.Errorf("a quiet incremental pass over %d users sent %d requests, want under %d", n, sent[n], quietBudget)
		}
		// The rootDSE and the database's contextCSN, which has not moved,
		// say that nothing changed: no search of the users or the groups.
		if sent[n] != 2 {
			t.Errorf("a quiet incremental pass over %d users sent %d requests, want 2: the rootDSE and the contextCSN", n, sent[n])
		}
	}
	if sent[1000] != sent[10000] {
		t.Fatalf("a quiet incremental pass sent %d requests over 1,000 users and %d over 10,000; want the same", sent[1000], sent[10000])
	}
	t.Logf("a quiet incremental pass: %d requests", sent[1000])
}
