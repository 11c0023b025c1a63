package main

import (
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TestTheJOSELibraryCarriesTheFixForCVE202428180 guards the Okta service
// app's sign-in: go-jose before v3.0.3 can be made to spend unbounded memory
// decompressing a JWE (CVE-2024-28180), and the Okta SDK still asks for v3.0.0.
func TestTheJOSELibraryCarriesTheFixForCVE202428180(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("the test binary carries no build information")
	}
	for _, m := range info.Deps {
		if m.Path != "github.com/go-jose/go-jose/v3" {
			continue
		}
		if m.Replace != nil {
			m = m.Replace
		}
		if !atLeast(m.Version, 3, 0, 3) {
			t.Fatalf("github.com/go-jose/go-jose/v3 %s is linked; v3.0.3 or later fixes CVE-2024-28180", m.Version)
		}
		return
	}
	t.Fatal("github.com/go-jose/go-jose/v3 is not linked any more: this test has nothing left to guard")
}

// atLeast reports whether the module version v ("v3.0.5") is at least
// major.minor.patch.
func atLeast(v string, want ...int) bool {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}
