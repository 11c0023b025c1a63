package okta

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// The SDK reads ~/.okta/okta.yaml (the home of the user in the password
// database, not $HOME) and OKTA_CLIENT_* variables before the options it is
// given. licensync's configuration must win over both.
func TestLicensyncConfigurationWinsOverTheSDKsFileAndVariables(t *testing.T) {
	decoy := newFakeOkta(t, newFakeClock(), "00DECOYtoken")
	populate(decoy, 1)
	const home = `okta:
  client:
    orgUrl: %s
    token: 00HOMEFILEtoken
    authorizationMode: Bearer
    cache:
      enabled: true
      defaultTtl: 3600
    requestTimeout: 1
    rateLimit:
      maxRetries: 9
`
	writeHomeConfig(t, strings.Replace(home, "%s", decoy.URL(), 1))
	for k, v := range map[string]string{
		"OKTA_CLIENT_ORGURL":                 decoy.URL(),
		"OKTA_CLIENT_TOKEN":                  "00DECOYtoken",
		"OKTA_CLIENT_AUTHORIZATIONMODE":      "SSWS",
		"OKTA_CLIENT_CACHE_ENABLED":          "true",
		"OKTA_CLIENT_CACHE_DEFAULT_TTL":      "3600",
		"OKTA_CLIENT_RATE_LIMIT_MAX_RETRIES": "9",
		"OKTA_CLIENT_CLIENTID":               "0oaDECOY",
		"OKTA_CLIENT_SCOPES":                 "okta.apps.manage",
		"OKTA_TESTING_DISABLE_HTTPS_CHECK":   "true",
	} {
		t.Setenv(k, v)
	}

	f := newFakeOkta(t, newFakeClock(), testToken)
	populate(f, 5)
	s := openFake(t, f, Options{}, nil)
	got, _, _ := read(t, s, "")
	if len(got) != 5 {
		t.Fatalf("%d users, want the 5 of the configured organisation", len(got))
	}
	if n := len(decoy.Requests()); n != 0 {
		t.Fatalf("%d requests went to the organisation of the SDK's file or variables", n)
	}
	// With the SDK's cache on, the second read would be answered from it.
	first := len(f.Requests())
	f.update("00u00001", func(u *fakeUser) { u.Profile["primaryPhone"] = "+12125550000" })
	again, _, _ := read(t, s, "")
	if len(f.Requests()) != 2*first {
		t.Errorf("the second pass sent %d requests, the first %d: answers came from a cache", len(f.Requests())-first, first)
	}
	if again[1].WorkPhone != "+12125550000" {
		t.Errorf("the second pass read %q, a stale answer", again[1].WorkPhone)
	}
}

// writeHomeConfig writes ~/.okta/okta.yaml for the test's duration. An
// existing file is left as it is (the test then shows that it is ignored).
func writeHomeConfig(t *testing.T, content string) {
	t.Helper()
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Fatalf("no home folder to put the SDK's file in: %v", err)
	}
	dir := filepath.Join(u.HomeDir, ".okta")
	path := filepath.Join(dir, "okta.yaml")
	if _, err := os.Stat(path); err == nil {
		t.Logf("%s exists and is left alone", path)
		return
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	made := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		must(t, os.Mkdir(dir, 0o700))
		made = true
	}
	must(t, os.WriteFile(path, []byte(content), 0o600))
	t.Cleanup(func() {
		_ = os.Remove(path)
		if made {
			_ = os.Remove(dir)
		}
	})
}
