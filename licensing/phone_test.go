package licensing

import (
	"strings"
	"testing"
)

func TestNormalisePhone(t *testing.T) {
	tests := []struct {
		name, value, region, want, reason string
	}{
		{"a formatted US number with plus is normalised", "+1 (212) 555-0112", "", "+12125550112", ""},
		{"dots and spaces are ignored", "+1.212.555.0112", "", "+12125550112", ""},
		{"a UK number with plus is normalised", "+44 20 7183 8750", "", "+442071838750", ""},
		{"a number stripped of its plus says what it would be", "12125550103", "", "", "with country code 1 it would be +12125550103"},
		{"a ten-digit national number is refused without a region", "(212) 555-0118", "", "", "national format without a country code"},
		{"a trunk-zero national number is refused without a region", "0207 183 8751", "", "", "trunk prefix 0"},
		{"a national number parses with a default region", "(212) 555-0118", "US", "+12125550118", ""},
		{"a UK national number parses with region GB", "020 7183 8751", "gb", "+442071838751", ""},
		{"a too short number says wrong length", "+1 212 555", "", "", "too short"},
		{"an unknown country code is named", "+999 1234567", "", "", "unknown country code"},
		{"an extension is refused", "+12125550134 x204", "", "", "extension"},
		{"letters are refused", "+1 800 FLOWERS", "", "", "letters"},
		{"a plus alone has no digits", "+", "", "", "no digits"},
		{"a number in no assigned range is invalid", "+1 212 055 0100", "", "", "not a valid number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalisePhone(tc.value, tc.region)
			if tc.reason == "" {
				if err != nil || got != tc.want {
					t.Fatalf("NormalisePhone(%q) = %q, %v; want %q", tc.value, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalisePhone(%q) = %q, want an error mentioning %q", tc.value, got, tc.reason)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

func FuzzNormalisePhone(f *testing.F) {
	for _, s := range []string{"+12125550112", "12125550112", "+", "+44 (0) 20", "0", "+1 x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := NormalisePhone(s, "")
		if err == nil && !strings.HasPrefix(e, "+") {
			t.Fatalf("accepted %q as %q, which is not E.164", s, e)
		}
	})
}
