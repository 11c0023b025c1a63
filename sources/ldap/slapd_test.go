package ldap

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/config"
)

const (
	suffix   = "dc=example,dc=com"
	rootDN   = "cn=admin," + suffix
	rootPass = "s3cret-Bind-Pw"
)

// slapd is a real OpenLDAP server run for one test.
type slapd struct {
	t    testing.TB
	dir  string
	conf string
	url  string
	// ldaps is the TLS address and ca the CA file, when started with TLS.
	ldaps string
	ca    string
	cmd   *exec.Cmd
}

func slapdBinary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("slapd"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("slapd is not installed; scripts/test installs it (apt-get install slapd ldap-utils)")
	}
	t.Skip("slapd is not installed (apt-get install slapd ldap-utils)")
	return ""
}

// options change the test server.
type options struct {
	// TLS adds an ldaps:// port and a server certificate from a test CA.
	TLS bool
	// NoContextCSN leaves out the syncprov overlay, which keeps contextCSN.
	NoContextCSN bool
}

// startSlapd bulk-loads ldif with slapadd and starts slapd on a free
// loopback port.
func startSlapd(t testing.TB, ldif string, opt options) *slapd {
	t.Helper()
	bin := slapdBinary(t)
	dir := t.TempDir()
	s := &slapd{t: t, dir: dir, url: "ldap://127.0.0.1:" + freePort(t)}
	extraConf := ""
	if opt.TLS {
		s.ca = writeTestPKI(t, dir)
		s.ldaps = "ldaps://127.0.0.1:" + freePort(t)
		extraConf = fmt.Sprintf("TLSCACertificateFile %[1]s/ca.pem\nTLSCertificateFile %[1]s/server.pem\nTLSCertificateKeyFile %[1]s/server.key\n", dir)
	}
	schema, err := filepath.Abs(filepath.Join("..", "..", "testdata", "demo", "ldap", "ad.schema"))
	must(t, err)
	must(t, os.Mkdir(filepath.Join(dir, "db"), 0o700))
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[6]s
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload syncprov
pidfile %[1]s/slapd.pid
rootDSE %[1]s/rootdse.ldif
sizelimit unlimited
%[2]s
database mdb
suffix "%[3]s"
rootdn "%[4]s"
rootpw %[5]s
directory %[1]s/db
maxsize 268435456
index objectClass eq
limits dn.exact="cn=reader,%[3]s" size.prtotal=50
overlay memberof
`, dir, extraConf, suffix, rootDN, rootPass, schema)
	if !opt.NoContextCSN {
		conf += "overlay syncprov\n"
	}
	s.setRootDSE("description: licensync test server")
	confPath := filepath.Join(dir, "slapd.conf")
	must(t, os.WriteFile(confPath, []byte(conf), 0o600))
	ldifPath := filepath.Join(dir, "data.ldif")
	must(t, os.WriteFile(ldifPath, []byte(ldif), 0o600))
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	if out, err := exec.Command(slapadd, "-q", "-f", confPath, "-l", ldifPath).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	s.conf = confPath
	s.start()
	t.Cleanup(s.stop)
	return s
}

// setRootDSE sets the attributes the rootDSE shows from the next start.
func (s *slapd) setRootDSE(attrs ...string) {
	s.t.Helper()
	must(s.t, os.WriteFile(filepath.Join(s.dir, "rootdse.ldif"), []byte("dn:\n"+strings.Join(attrs, "\n")+"\n"), 0o600))
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func (s *slapd) start() {
	s.t.Helper()
	urls := s.url
	if s.ldaps != "" {
		urls += " " + s.ldaps
	}
	var out bytes.Buffer
	s.cmd = exec.Command(slapdBinary(s.t), "-f", s.conf, "-h", urls, "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	must(s.t, s.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := goldap.DialURL(s.url); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	s.t.Fatalf("slapd did not start on %s:\n%s", s.url, out.String())
}

func (s *slapd) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// admin returns a connection bound as the root DN, for changing entries.
func (s *slapd) admin() *goldap.Conn {
	s.t.Helper()
	c, err := goldap.DialURL(s.url)
	must(s.t, err)
	must(s.t, c.Bind(rootDN, rootPass))
	s.t.Cleanup(func() { c.Close() })
	return c
}

// config returns a source configuration for this server.
func (s *slapd) config(dialect, base string) config.LDAPSource {
	return config.LDAPSource{
		URLs:         []string{s.url},
		BindDN:       rootDN,
		BindPassword: config.Secret(rootPass),
		BaseDN:       base,
		Dialect:      dialect,
		Timeout:      config.Duration(10 * time.Second),
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
