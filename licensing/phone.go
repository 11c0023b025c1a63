package licensing

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneError says why a work phone is not a valid E.164 number.
type PhoneError struct {
	// Value is the value as the directory stores it.
	Value string
	// Reason is the administrator-facing explanation, including what the
	// number probably is when that can be told.
	Reason string
}

func (e *PhoneError) Error() string { return fmt.Sprintf("phone %q: %s", e.Value, e.Reason) }

// stripFormatting removes the characters people type between digits. It
// reports false when anything but digits and those characters remains.
func stripFormatting(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '/' || r == '\u00a0' || r == '\t':
		default:
			return "", false
		}
	}
	return b.String(), true
}

// NormalisePhone turns a directory phone value into E.164. A value with a
// leading '+' must be a valid number for its country; a value without one is
// accepted only when defaultRegion (an ISO 3166 code such as "US") is set.
// It never guesses a country: when it can tell what a number probably is,
// it says so in the error and leaves the fix to the administrator.
func NormalisePhone(value, defaultRegion string) (string, error) {
	v := strings.TrimSpace(value)
	plus := strings.HasPrefix(v, "+")
	digits, ok := stripFormatting(strings.TrimPrefix(v, "+"))
	if !ok {
		return "", &PhoneError{value, "contains letters or symbols other than digits, spaces, dots, dashes and parentheses (an extension such as 'x123' does not belong in the work phone)"}
	}
	if digits == "" {
		return "", &PhoneError{value, "has no digits"}
	}
	if !plus && defaultRegion == "" {
		return "", &PhoneError{value, withoutPlusReason(digits)}
	}
	region := ""
	text := "+" + digits
	if !plus {
		region, text = strings.ToUpper(defaultRegion), digits
	}
	num, err := phonenumbers.Parse(text, region)
	if err != nil {
		return "", &PhoneError{value, parseReason(err, digits, plus)}
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", &PhoneError{value, invalidReason(num)}
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if n := len(e164) - 1; n > maxE164Digits {
		return "", &PhoneError{value, fmt.Sprintf("too long for E.164: %d digits with the country code, at most 15 digits", n)}
	}
	return e164, nil
}

// maxE164Digits is E.164's limit on a number, country code included.
// phonenumbers takes longer national numbers as valid for some countries,
// but no E.164 number, and so no Calling number, has more digits.
const maxE164Digits = 15

func withoutPlusReason(digits string) string {
	if e, region, ok := validWithPlus(digits); ok {
		cc := phonenumbers.GetCountryCodeForRegion(region)
		return fmt.Sprintf("no leading '+', often stripped by a spreadsheet; with country code %d it would be %s (%s)", cc, e, region)
	}
	if strings.HasPrefix(digits, "0") {
		return "national format (trunk prefix 0) without a country code; write it as '+', the country code and the number without the 0, or set phone.default_region"
	}
	if len(digits) == 10 {
		if e, _, ok := validWithPlus("1" + digits); ok {
			return fmt.Sprintf("national format without a country code; with country code 1 it would be %s, but the country is not known: write it in E.164 or set phone.default_region", e)
		}
	}
	return "no leading '+' and no country code; write it in E.164 (+, country code, number) or set phone.default_region"
}

func validWithPlus(digits string) (e164, region string, ok bool) {
	num, err := phonenumbers.Parse("+"+digits, "")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", "", false
	}
	e164 = phonenumbers.Format(num, phonenumbers.E164)
	if len(e164)-1 > maxE164Digits {
		return "", "", false
	}
	return e164, phonenumbers.GetRegionCodeForNumber(num), true
}

func parseReason(err error, digits string, plus bool) string {
	switch err {
	case phonenumbers.ErrInvalidCountryCode:
		if plus {
			return fmt.Sprintf("unknown country code after '+' (%s...)", prefix(digits, 3))
		}
		return "no country code and none could be taken from phone.default_region"
	case phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
		return "too short to be a phone number"
	case phonenumbers.ErrNumTooLong:
		return "too long to be a phone number"
	}
	return "not a phone number: " + err.Error()
}

func invalidReason(num *phonenumbers.PhoneNumber) string {
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	if region == "ZZ" || region == "" {
		return fmt.Sprintf("unknown country code %d", num.GetCountryCode())
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.TOO_SHORT:
		return fmt.Sprintf("wrong length: too short for country code %d (%s)", num.GetCountryCode(), region)
	case phonenumbers.TOO_LONG:
		return fmt.Sprintf("wrong length: too long for country code %d (%s)", num.GetCountryCode(), region)
	case phonenumbers.INVALID_COUNTRY_CODE:
		return fmt.Sprintf("unknown country code %d", num.GetCountryCode())
	}
	return fmt.Sprintf("not a valid number for country code %d (%s): no such area or range", num.GetCountryCode(), region)
}

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
