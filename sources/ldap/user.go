package ldap

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/licensing"
)

// uacDisabled is the ACCOUNTDISABLE bit of AD's userAccountControl.
const uacDisabled = 0x2

func (s *Source) toUser(e *goldap.Entry, g *graph) licensing.DirectoryUser {
	a := s.cfg.Attributes
	u := licensing.DirectoryUser{
		Email:       e.GetEqualFoldAttributeValue(a.Email),
		DisplayName: or(e.GetEqualFoldAttributeValue(a.DisplayName), e.GetAttributeValue("cn")),
		WorkPhone:   e.GetEqualFoldAttributeValue(a.WorkPhone),
	}
	u.Enabled, u.Unreadable = enabled(e)
	if strings.EqualFold(a.ID, "objectGUID") {
		u.ID = guidString(e.GetEqualFoldRawAttributeValue(a.ID))
	} else {
		u.ID = e.GetEqualFoldAttributeValue(a.ID)
	}
	if u.Email == "" && s.cfg.Dialect == DialectAD {
		u.Email = e.GetAttributeValue("userPrincipalName")
	}
	direct := append(e.GetAttributeValues("memberOf"), g.parents[normDN(e.DN)]...)
	u.Groups = g.closure(direct)
	return u
}

// enabled reads AD's disabled bit, or OpenLDAP's password policy lock. A
// userAccountControl that is not a number says nothing about the account:
// the record is unreadable, and problem says why.
func enabled(e *goldap.Entry) (on bool, problem string) {
	if v := e.GetAttributeValue("userAccountControl"); v != "" {
		uac, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false, fmt.Sprintf("userAccountControl is %.64q, want a number", v)
		}
		return uac&uacDisabled == 0, ""
	}
	return e.GetAttributeValue("pwdAccountLockedTime") == "", ""
}

// guidString renders a 16-byte Microsoft GUID in its standard string form,
// whose first three fields are stored little-endian. It runs for every user
// of an AD pass: one allocation, no formatting.
func guidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	const digits = "0123456789abcdef"
	order := [16]int{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15}
	var s [36]byte
	j := 0
	for i, k := range order {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = digits[b[k]>>4], digits[b[k]&0x0f]
		j += 2
	}
	return string(s[:])
}
