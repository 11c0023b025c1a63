package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// subcommands lists the commands the binary offers, as its shell
// completion does.
func subcommands(t *testing.T) []string {
	t.Helper()
	code, out, errOut := run(t, "__complete", "")
	if code != 0 {
		t.Fatalf("__complete: exit %d: %s", code, errOut)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		names = append(names, name)
	}
	if len(names) < 10 {
		t.Fatalf("%d commands from completion: %q", len(names), out)
	}
	return names
}

func TestTheManualHasAPageForEveryCommandAndTheMainPageNamesThemAll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	if code, _, errOut := run(t, "man", "--dir", dir); code != 0 {
		t.Fatalf("man: exit %d: %s", code, errOut)
	}
	main, err := os.ReadFile(filepath.Join(dir, "licensync.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range subcommands(t) {
		if name == "help" {
			continue
		}
		page, err := os.ReadFile(filepath.Join(dir, "licensync-"+name+".1"))
		if err != nil {
			t.Errorf("command %s has no page: %v", name, err)
			continue
		}
		if !strings.Contains(string(page), ".SH NAME\nlicensync-"+name+" - ") {
			t.Errorf("licensync-%s.1 does not name its command", name)
		}
		if !strings.Contains(string(main), `\fBlicensync-`+name+`(1)\fP`) {
			t.Errorf("licensync.1 does not refer to licensync-%s(1)", name)
		}
	}
}

func TestManWithoutAFolderIsBadUsage(t *testing.T) {
	if code, _, errOut := run(t, "man"); code != exitUsage || !strings.Contains(errOut, "dir") {
		t.Fatalf("exit %d, %q; want %d naming --dir", code, errOut, exitUsage)
	}
}

func TestCompletionScriptsAreWrittenForEachShell(t *testing.T) {
	tests := []struct{ shell, marker string }{
		{"bash", "__start_licensync"},
		{"zsh", "#compdef licensync"},
		{"fish", "complete -c licensync"},
	}
	for _, tc := range tests {
		t.Run(tc.shell, func(t *testing.T) {
			code, out, errOut := run(t, "completion", tc.shell)
			if code != 0 || !strings.Contains(out, tc.marker) {
				t.Fatalf("exit %d, %d bytes without %q: %s", code, len(out), tc.marker, errOut)
			}
		})
	}
}
