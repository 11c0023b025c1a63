package licensing

import (
	"errors"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
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
		// phonenumbers takes national numbers of up to 17 digits as valid.
		{"a number of more than 15 digits is refused though its country allows it", "+49 201 00000000000", "", "", "at most 15 digits"},
		{"a national number of more than 15 digits is refused too", "20100000000000", "DE", "", "at most 15 digits"},
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

// fuzzRegions are the default regions FuzzNormalisePhone tries: none
// (strict E.164), a few with national formats of their own, and one that
// names no country.
var fuzzRegions = []string{"", "US", "GB", "DE", "IN", "BR", "zz"}

// FuzzNormalisePhone checks what the decision relies on: a number that
// comes out is E.164 and parses back with phonenumbers to itself, and a
// value that is refused is refused with the same reason every time.
func FuzzNormalisePhone(f *testing.F) {
	for i, s := range []string{"+12125550112", "12125550112", "+", "+44 (0) 20", "0", "+1 x",
		"+1 212 555 0101", "+1 (212) 555-0112", "+44 20 7183 8750", "020 7183 8751", "(212) 555-0118",
		"+49 30 901820", "+91 98765 43210", "+55 11 91234-5678", "+1 212 055 0100", "+999 1234567",
		"\u00a0+1\t212.555.0101 ", "+12125550134 x204", "+1 800 FLOWERS", "'+12125550101", "=+12125550101"} {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		region := fuzzRegions[int(r)%len(fuzzRegions)]
		e, err := NormalisePhone(s, region)
		again, err2 := NormalisePhone(s, region)
		if again != e || (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("NormalisePhone(%q, %q) gave %q, %v and then %q, %v", s, region, e, err, again, err2)
		}
		if err != nil {
			var pe *PhoneError
			if !errors.As(err, &pe) || pe.Value != s || pe.Reason == "" {
				t.Fatalf("NormalisePhone(%q, %q): error %v (%T), want a PhoneError with the value and a reason", s, region, err, err)
			}
			return
		}
		if !strictE164(e) {
			t.Fatalf("NormalisePhone(%q, %q) = %q, not E.164", s, region, e)
		}
		num, err := phonenumbers.Parse(e, "")
		if err != nil || !phonenumbers.IsValidNumber(num) || phonenumbers.Format(num, phonenumbers.E164) != e {
			t.Fatalf("NormalisePhone(%q, %q) = %q, which phonenumbers reads back as %v, %v", s, region, e, num, err)
		}
		if back, err := NormalisePhone(e, ""); back != e || err != nil {
			t.Fatalf("NormalisePhone(%q, %q) = %q, which normalises again to %q, %v", s, region, e, back, err)
		}
	})
}
