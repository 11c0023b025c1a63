package ldap

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/config"
)

// The Samba AD domain controller of the test run: one domain, provisioned
// once per run of this package. Samba always listens on 389 and 636, so
// one instance runs per machine; a lock file makes concurrent runs take
// turns.
const (
	adDomain = "DC=corp,DC=example"
	adStaff  = "OU=Staff," + adDomain
	adDemo   = "OU=Demo," + adDomain
	// adGroups is the OU of groups beside OU=Staff, as sites lay it out.
	adGroups   = "OU=Groups," + adDomain
	adAdmin    = "CN=Administrator,CN=Users," + adDomain
	adPassword = "Adm1n-Pa55-w0rd!"
	// adUsers is how many users OU=Staff holds.
	adUsers = 2000
	// sambaWait bounds the wait for another run's domain controller.
	sambaWait = 5 * time.Minute
)

// sambaDC is a running Samba AD domain controller.
type sambaDC struct {
	dir string
	// url and ldaps are its plain and TLS addresses; ca signed its
	// certificate and otherCA did not.
	url, ldaps  string
	ca, otherCA string
	cmd         *exec.Cmd
	exited      chan struct{}
	log         *bytes.Buffer
	lock        *os.File
}

var (
	sambaOnce sync.Once
	sambaSrv  *sambaDC
	// sambaErr is why there is no domain controller; sambaMissing says
	// Samba is not installed, which skips outside CI.
	sambaErr     error
	sambaMissing bool
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Provisioning takes seconds of CPU: overlap it with the slapd tests
	// when the whole package runs, start it on first use otherwise.
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
		go sambaOnce.Do(startSamba)
	}
	code := m.Run()
	sambaOnce.Do(func() {})
	if sambaSrv != nil {
		sambaSrv.stop()
	}
	os.Exit(code)
}

// samba returns the domain controller of this run, provisioning and
// starting it on first use. Without Samba the test fails under CI and is
// skipped elsewhere.
func samba(t *testing.T) *sambaDC {
	t.Helper()
	sambaOnce.Do(startSamba)
	if sambaSrv != nil {
		return sambaSrv
	}
	if sambaMissing && os.Getenv("CI") != "true" {
		t.Skipf("Samba AD DC is not installed (apt-get install samba-ad-dc ldb-tools): %v", sambaErr)
	}
	t.Fatalf("no Samba AD domain controller: %v", sambaErr)
	return nil
}

func startSamba() {
	for _, bin := range []string{"samba", "samba-tool", "ldbadd"} {
		if _, err := lookSamba(bin); err != nil {
			sambaErr, sambaMissing = err, true
			return
		}
	}
	s, err := provisionSamba()
	if err != nil {
		sambaErr = err
		if s != nil {
			s.stop()
		}
		return
	}
	sambaSrv = s
}

func lookSamba(bin string) (string, error) {
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, bin); isExecutable(p) {
			return p, nil
		}
	}
	return exec.LookPath(bin)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// provisionSamba provisions a domain in a new temporary folder, loads the
// test directory and starts the domain controller.
func provisionSamba() (*sambaDC, error) {
	dir, err := os.MkdirTemp("", "licensync-samba-")
	if err != nil {
		return nil, err
	}
	s := &sambaDC{dir: dir, url: "ldap://127.0.0.1:389", ldaps: "ldaps://127.0.0.1:636", log: &bytes.Buffer{}}
	if s.ca, err = makeTestPKI(dir); err != nil {
		return s, err
	}
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		return s, err
	}
	if s.otherCA, err = makeTestPKI(other); err != nil {
		return s, err
	}
	dc := filepath.Join(dir, "dc")
	tool, _ := lookSamba("samba-tool")
	// The machine's smb.conf and host name must not leak in.
	if err := run(tool, "domain", "provision", "--configfile=/dev/null", "--targetdir="+dc,
		"--realm=CORP.EXAMPLE", "--domain=CORP", "--host-name=DC1", "--server-role=dc",
		"--dns-backend=NONE", "--adminpass="+adPassword,
		"--option=interfaces = lo", "--option=bind interfaces only = yes", "--option=server services = ldap"); err != nil {
		return s, fmt.Errorf("samba-tool domain provision: %w", err)
	}
	conf := filepath.Join(dc, "etc", "smb.conf")
	if err := s.configure(conf); err != nil {
		return s, err
	}
	ldif := filepath.Join(dir, "load.ldif")
	data, err := adDirectory()
	if err != nil {
		return s, err
	}
	if err := os.WriteFile(ldif, []byte(data), 0o600); err != nil {
		return s, err
	}
	ldbadd, _ := lookSamba("ldbadd")
	// Loading through sam.ldb before the daemon starts is several times
	// faster than over LDAP; the DC's modules still assign GUIDs, SIDs,
	// USNs and the memberOf back links.
	if err := run(ldbadd, "--configfile="+conf, "--nosync", "-H", s.samLDB(), ldif); err != nil {
		return s, fmt.Errorf("ldbadd: %w", err)
	}
	// Loop A joins Loop B, its own member: AD allows such cycles.
	cycle := filepath.Join(dir, "cycle.ldif")
	if err := os.WriteFile(cycle, []byte(fmt.Sprintf("dn: %s\nchangetype: modify\nadd: member\nmember: %s\n", adGroupDN("Loop A"), adGroupDN("Loop B"))), 0o600); err != nil {
		return s, err
	}
	ldbmodify, _ := lookSamba("ldbmodify")
	if err := run(ldbmodify, "--configfile="+conf, "-H", s.samLDB(), cycle); err != nil {
		return s, fmt.Errorf("ldbmodify: %w", err)
	}
	if err := s.lockPorts(); err != nil {
		return s, err
	}
	return s, s.start(conf)
}

// configure adds to the provisioned smb.conf what the tests need: a simple
// bind over plain LDAP, the test CA's certificate, and every file in the
// temporary folder.
func (s *sambaDC) configure(conf string) error {
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	extra := strings.Join([]string{"[global]",
		"\tldap server require strong auth = no",
		"\ttls enabled = yes",
		"\ttls keyfile = " + filepath.Join(s.dir, "server.key"),
		"\ttls certfile = " + filepath.Join(s.dir, "server.pem"),
		"\ttls cafile = " + s.ca,
		"\tpid directory = " + s.dir,
		"\tlog file = " + filepath.Join(s.dir, "samba.log"),
		"\tmax log size = 0",
		"", ""}, "\n")
	out := strings.Replace(string(b), "[global]\n", extra, 1)
	if out == string(b) {
		return fmt.Errorf("%s has no [global] section", conf)
	}
	return os.WriteFile(conf, []byte(out), 0o600)
}

func (s *sambaDC) samLDB() string { return filepath.Join(s.dir, "dc", "private", "sam.ldb") }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// lockPorts waits until no other run of these tests has a domain
// controller up, and checks that nothing else holds port 389.
func (s *sambaDC) lockPorts() error {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "licensync-samba-389.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(sambaWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("another test run keeps its Samba domain controller on port 389: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.lock = f
	for _, port := range []string{"389", "636"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("port %s on 127.0.0.1 is taken (a system slapd or samba?); stop that service to run the Samba tests", port)
		}
	}
	return nil
}

func (s *sambaDC) start(conf string) error {
	bin, _ := lookSamba("samba")
	s.cmd = exec.Command(bin, "--configfile="+conf, "--foreground", "--no-process-group", "--debug-stdout")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Its own process group, so that stop reaches the forked workers.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return err
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("samba exited before answering:\n%s", s.log.String())
		default:
		}
		if c, err := goldap.DialURL(s.url); err == nil {
			err = c.Bind(adAdmin, adPassword)
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("samba did not answer on %s within a minute:\n%s", s.url, s.log.String())
}

// stop ends the domain controller's process group and removes its folder.
func (s *sambaDC) stop() {
	if s.cmd != nil {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
		// Workers that outlive the root process go too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	if s.lock != nil {
		s.lock.Close()
	}
	os.RemoveAll(s.dir)
}

// admin returns a connection bound as the domain's Administrator.
func (s *sambaDC) admin(t *testing.T) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL(s.url)
	must(t, err)
	must(t, c.Bind(adAdmin, adPassword))
	t.Cleanup(func() { c.Close() })
	return c
}

// config returns an AD source configuration for base on this DC.
func (s *sambaDC) config(base string) config.LDAPSource {
	return config.LDAPSource{
		URLs:         []string{s.url},
		BindDN:       adAdmin,
		BindPassword: config.Secret(adPassword),
		BaseDN:       base,
		Dialect:      DialectAD,
		Timeout:      config.Duration(20 * time.Second),
	}
}

// ldbValue reads attr of dn straight from sam.ldb with Samba's own ldbsearch,
// which renders GUIDs in their string form: a reference the source's
// rendering is compared with.
func (s *sambaDC) ldbValue(t *testing.T, dn, attr string) string {
	t.Helper()
	bin, err := lookSamba("ldbsearch")
	must(t, err)
	out, err := exec.Command(bin, "-H", s.samLDB(), "-s", "base", "-b", dn, attr).CombinedOutput()
	if err != nil {
		t.Fatalf("ldbsearch %s: %v\n%s", dn, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, attr+": "); ok {
			return v
		}
	}
	t.Fatalf("ldbsearch shows no %s on %s:\n%s", attr, dn, out)
	return ""
}

// adUserDN is the DN of OU=Staff's user i: even ones in OU=Sales, odd ones
// in OU=Support.
func adUserDN(i int) string {
	ou := "Sales"
	if i%2 == 1 {
		ou = "Support"
	}
	return fmt.Sprintf("CN=Staff User %04d,OU=%s,%s", i, ou, adStaff)
}

func adGroupDN(name string) string { return "CN=" + name + ",OU=Groups," + adStaff }

// adSiteGroupDN is the DN of a group in OU=Groups beside OU=Staff.
func adSiteGroupDN(name string) string { return "CN=" + name + "," + adGroups }

// adMail is the mail of user i; every tenth user (i%10 == 3) has none and
// falls back to its userPrincipalName, which differs from mail for all.
func adMail(i int) string {
	if i%10 == 3 {
		return ""
	}
	return fmt.Sprintf("staff.%04d@corp.example", i)
}

func adUPN(i int) string { return fmt.Sprintf("s%04d@corp.local", i) }

// adKey is the address user i is reported by: mail, else the UPN.
func adKey(i int) string { return or(adMail(i), adUPN(i)) }

// adDisabled tells the users whose userAccountControl has the
// ACCOUNTDISABLE bit: every seventh.
func adDisabled(i int) bool { return i%7 == 0 }

// adDirectory returns the LDIF loaded into the domain: OU=Staff with
// adUsers users in two OUs, a computer account, and the groups
//
//	Calling Users  <- Sales EMEA, s0001..s0005
//	Sales EMEA     <- Sales EMEA North, s0010..s0014
//	Sales EMEA North <- s0020..s0024
//	Loop A <- Loop B <- Loop A (a cycle), s0030 in Loop B
//
// OU=Groups beside OU=Staff with
//
//	Softphone Users <- Softphone Pilot, s1991
//	Softphone Pilot <- s1990
//
// and OU=Demo with the demo directory's users and groups.
func adDirectory() (string, error) {
	var b strings.Builder
	entry := func(dn string, lines ...string) { fmt.Fprintf(&b, "dn: %s\n%s\n\n", dn, strings.Join(lines, "\n")) }
	for _, ou := range []string{adStaff, "OU=Sales," + adStaff, "OU=Support," + adStaff, "OU=Groups," + adStaff, adGroups, adDemo} {
		entry(ou, "objectClass: organizationalUnit")
	}
	for i := 0; i < adUsers; i++ {
		uac := "512"
		if adDisabled(i) {
			uac = "514"
		}
		lines := []string{"objectClass: user", fmt.Sprintf("sAMAccountName: s%04d", i), "userPrincipalName: " + adUPN(i),
			fmt.Sprintf("displayName: Staff User %04d", i), fmt.Sprintf("telephoneNumber: +1 415 555 %04d", i), "userAccountControl: " + uac}
		if m := adMail(i); m != "" {
			lines = append(lines, "mail: "+m)
		}
		entry(adUserDN(i), lines...)
	}
	entry("CN=WS0001,"+adStaff, "objectClass: computer", "sAMAccountName: WS0001$", "userAccountControl: 4096")
	group := func(name string, members ...string) {
		lines := []string{"objectClass: group", "sAMAccountName: " + strings.ReplaceAll(strings.ToLower(name), " ", "-")}
		for _, m := range members {
			lines = append(lines, "member: "+m)
		}
		entry(adGroupDN(name), lines...)
	}
	users := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, adUserDN(i))
		}
		return out
	}
	group("Sales EMEA North", users(20, 24)...)
	group("Sales EMEA", append(users(10, 14), adGroupDN("Sales EMEA North"))...)
	group("Calling Users", append(users(1, 5), adGroupDN("Sales EMEA"))...)
	group("Loop A")
	group("Loop B", adGroupDN("Loop A"), adUserDN(30))
	entry(adSiteGroupDN("Softphone Pilot"), "objectClass: group", "sAMAccountName: softphone-pilot", "member: "+adUserDN(1990))
	entry(adSiteGroupDN("Softphone Users"), "objectClass: group", "sAMAccountName: softphone-users",
		"member: "+adSiteGroupDN("Softphone Pilot"), "member: "+adUserDN(1991))
	demo, err := adDemoDirectory()
	if err != nil {
		return "", err
	}
	return b.String() + demo, nil
}

// adDemoDirectory turns the repository's demo directory into AD users and
// groups under OU=Demo. Each user's userPrincipalName differs from its mail.
func adDemoDirectory() (string, error) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "demo", "directory.csv"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		return "", err
	}
	var b strings.Builder
	members := map[string][]string{}
	var order []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		id, email, name, phone, enabled, grps := rec[0], rec[1], rec[2], rec[3], rec[4], rec[5]
		dn := "CN=" + id + "," + adDemo
		uac := "512"
		if enabled == "false" {
			uac = "514"
		}
		fmt.Fprintf(&b, "dn: %s\nobjectClass: user\nsAMAccountName: %s\nuserPrincipalName: %s@corp.local\ndisplayName: %s\nmail: %s\nuserAccountControl: %s\n",
			dn, id, id, name, email, uac)
		if phone != "" {
			fmt.Fprintf(&b, "telephoneNumber: %s\n", phone)
		}
		b.WriteString("\n")
		for _, g := range strings.Split(grps, ";") {
			if g == "" {
				continue
			}
			if cn, ok := strings.CutPrefix(g, "CN="); ok {
				g = strings.SplitN(cn, ",", 2)[0]
			}
			if _, seen := members[g]; !seen {
				order = append(order, g)
			}
			members[g] = append(members[g], dn)
		}
	}
	for _, g := range order {
		fmt.Fprintf(&b, "dn: CN=%s,%s\nobjectClass: group\nsAMAccountName: demo-%s\n", g, adDemo, strings.ReplaceAll(strings.ToLower(g), " ", "-"))
		for _, m := range members[g] {
			fmt.Fprintf(&b, "member: %s\n", m)
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}
