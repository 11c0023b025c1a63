package webextest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPackageOfTheBinaryImportsTheTestServer lists what every package of
// the module imports outside its tests, and what the binary links: the test
// server may be imported by tests only.
func TestNoPackageOfTheBinaryImportsTheTestServer(t *testing.T) {
	const self = "github.com/licensync/licensync/internal/webextest"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, "github.com/licensync/licensync/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list named %d packages, want the whole module:\n%s", len(lines), out)
	}
	for _, l := range lines {
		pkg, imports, _ := strings.Cut(l, ": ")
		for _, imp := range strings.Fields(imports) {
			if imp == self {
				t.Errorf("%s imports %s outside its tests", pkg, self)
			}
		}
	}
	deps, err := exec.Command("go", "list", "-deps", "github.com/licensync/licensync/cmd/licensync").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, deps)
	}
	if !strings.Contains(string(deps), "github.com/licensync/licensync/licensing/webex\n") {
		t.Fatalf("the binary's dependencies do not name the Webex client, so the list says nothing:\n%s", deps)
	}
	if strings.Contains(string(deps), self+"\n") {
		t.Errorf("the binary links %s", self)
	}
}
