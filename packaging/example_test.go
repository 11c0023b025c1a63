// Package packaging holds what the Debian package installs besides the
// binary and the units; its test checks the example configuration.
package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensync/licensync/config"
)

// TestTheExampleConfigurationValidatesWithTheUnitsCredentials loads the
// example as the service would, its file: references read from the
// credentials the units load, and checks it keeps its state where the
// units' StateDirectory= puts it.
func TestTheExampleConfigurationValidatesWithTheUnitsCredentials(t *testing.T) {
	creds := t.TempDir()
	for _, name := range []string{"webex-token", "ldap-bind-password"} {
		if err := os.WriteFile(filepath.Join(creds, name), []byte("secret-"+name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load("licensync.yaml", config.Options{LookupEnv: func(k string) (string, bool) {
		if k == "CREDENTIALS_DIRECTORY" {
			return creds, true
		}
		return "", false
	}})
	if err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]string{"state": cfg.State, "report_dir": cfg.ReportDir} {
		if !strings.HasPrefix(p, "/var/lib/licensync/") {
			t.Errorf("%s is %q, outside the units' StateDirectory=licensync", what, p)
		}
	}
	if cfg.Target.Webex.Token.Value() != "secret-webex-token" || cfg.Source.LDAP.BindPassword.Value() != "secret-ldap-bind-password" {
		t.Error("the secrets do not come from the credentials the units load")
	}
}
