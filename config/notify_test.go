package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseNotify parses a daemon.notify section with HOOK_URL set in the
// environment and a hook-url file beside the configuration.
func parseNotify(t *testing.T, notify string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook-url"), []byte("https://hooks.example.com/services/T0/B0/fileS3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_URL": "https://hooks.example.com/services/T0/B0/envS3cret", "PLAIN_HOOK": "http://hooks.example.com/envS3cret"}
	return Parse(filepath.Join(dir, "licensync.yaml"), []byte("daemon:\n  notify: "+notify+"\n"+webexTemplates), Options{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
}

func TestNotifySettingsAreRead(t *testing.T) {
	tests := []struct {
		name, notify string
		wantURL      string
		wantAfter    time.Duration
	}{
		{"no webhook is the default", "{}", "", DefaultNotifyAfter},
		{"the URL comes from the environment and the age defaults to a day", "{webhook_url: \"${HOOK_URL}\"}",
			"https://hooks.example.com/services/T0/B0/envS3cret", 24 * time.Hour},
		{"the URL comes from a file and the age is read", "{webhook_url: \"file:hook-url\", after: 2h}",
			"https://hooks.example.com/services/T0/B0/fileS3cret", 2 * time.Hour},
		{"an age of 0 is kept: notify at the first pass that records the failure", "{webhook_url: \"${HOOK_URL}\", after: 0s}",
			"https://hooks.example.com/services/T0/B0/envS3cret", 0},
		{"plain http is accepted on a loopback address", "{webhook_url: \"http://127.0.0.1:8080/hook\"}",
			"http://127.0.0.1:8080/hook", DefaultNotifyAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseNotify(t, tc.notify)
			if err != nil {
				t.Fatal(err)
			}
			if n := c.Daemon.Notify; n.WebhookURL.Value() != tc.wantURL || n.After.D() != tc.wantAfter {
				t.Errorf("notify = %q after %s, want %q after %s", n.WebhookURL.Value(), n.After.D(), tc.wantURL, tc.wantAfter)
			}
		})
	}
}

func TestNotifyConfigErrorsNameTheFieldAndNeverTheURL(t *testing.T) {
	tests := []struct {
		name, notify, wantPath string
	}{
		{"a URL that is not http(s) is refused", "{webhook_url: \"ftp://hooks.example.com/s3cret\"}", "daemon.notify.webhook_url"},
		{"a URL without a host is refused", "{webhook_url: \"https:///s3cret\"}", "daemon.notify.webhook_url"},
		{"plain http off a loopback address is refused", "{webhook_url: \"${PLAIN_HOOK}\"}", "daemon.notify.webhook_url"},
		{"a user and password before the host are refused", "{webhook_url: \"https://bot:s3cret@hooks.example.com/\"}", "daemon.notify.webhook_url"},
		{"an age without a URL is refused", "{after: 2h}", "daemon.notify.after"},
		{"a negative age is refused", "{webhook_url: \"${HOOK_URL}\", after: -1h}", "daemon.notify.after"},
		{"an unknown key under notify is refused", "{webhook: x}", "daemon.notify.webhook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseNotify(t, tc.notify)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want configuration errors", err)
			}
			if len(errs.List) != 1 || errs.List[0].Path != tc.wantPath {
				t.Errorf("errors = %v, want exactly one at %s", errs.List, tc.wantPath)
			}
			if strings.Contains(err.Error(), "S3cret") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the URL's secret: %v", err)
			}
		})
	}
}
