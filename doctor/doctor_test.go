package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritableDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		ok        bool
		detail    string
	}{
		{"an existing directory is writable", dir, true, "writable"},
		{"a missing directory under a writable one will be created", filepath.Join(dir, "x", "y"), true, "does not exist yet"},
		{"a regular file is not a directory", file, false, file + " is a file, not a directory"},
		{"a directory under a regular file cannot be created", filepath.Join(file, "reports"), false, file + " is a file, not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := WritableDir("report directory", tc.dir)
			if c.OK != tc.ok || !strings.Contains(c.Detail, tc.detail) || (!c.OK && c.Fix == "") {
				t.Errorf("%+v; want ok %v and detail saying %q", c, tc.ok, tc.detail)
			}
		})
	}
}

func TestFreeSpaceFailsBelowTheThreshold(t *testing.T) {
	dir := t.TempDir()
	if c := FreeSpace("disk", dir, 1); !c.OK {
		t.Errorf("one byte asked: %+v", c)
	}
	if c := FreeSpace("disk", dir, 1<<62); c.OK || !strings.Contains(c.Detail, "below the 4.0 EiB doctor asks for") {
		t.Errorf("4 EiB asked: %+v; want a failure naming the threshold", c)
	}
}

func TestWriteTextPutsEachCheckOnOneLine(t *testing.T) {
	var b bytes.Buffer
	err := WriteText(&b, []Check{
		Pass("ldap bind", "bind as cn=sync", "bound"),
		Fail("graph token", "client credentials for tenant t", "AADSTS7000215:\ninvalid client secret", "create a new secret"),
		Unknown("webex write scope", "read the token's scopes", "not exposed", "run one licence change by hand"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "✓ ldap bind: bind as cn=sync → bound\n" +
		"✗ graph token: client credentials for tenant t → AADSTS7000215: invalid client secret — fix: create a new secret\n" +
		"? webex write scope: read the token's scopes → not exposed — fix: run one licence change by hand\n" +
		"3 check(s): 1 passed, 1 failed, 1 not verifiable\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestAnUnverifiableCheckDoesNotFailDoctor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		checks []Check
		failed bool
	}{
		{"all passed", []Check{Pass("a", "t", "")}, false},
		{"one unverifiable", []Check{Pass("a", "t", ""), Unknown("b", "t", "", "")}, false},
		{"one failed", []Check{Pass("a", "t", ""), Fail("b", "t", "", "f")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Failed(tc.checks); got != tc.failed {
				t.Errorf("Failed = %v, want %v", got, tc.failed)
			}
		})
	}
}
