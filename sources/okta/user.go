package okta

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/licensync/licensync/licensing"
)

// enabledStatuses are the statuses of a user who can sign in, or will once
// a temporary state clears (a reset password, a lockout). STAGED and
// PROVISIONED users have not activated yet; SUSPENDED and DEPROVISIONED
// users are switched off. All of those are reported disabled.
var enabledStatuses = map[string]bool{"ACTIVE": true, "RECOVERY": true, "PASSWORD_EXPIRED": true, "LOCKED_OUT": true}

// toUser maps an Okta user; in are the indexes of the groups read that the
// user belongs to.
func (s *Source) toUser(u *okta.User, groups []group, in []int32) licensing.DirectoryUser {
	a := s.cfg.Attributes
	var prof okta.UserProfile
	if u.Profile != nil {
		prof = *u.Profile
	}
	d := licensing.DirectoryUser{
		ID:          u.Id,
		Email:       attr(prof, a.Email),
		DisplayName: attr(prof, a.DisplayName),
		WorkPhone:   attr(prof, a.WorkPhone),
		Enabled:     enabledStatuses[u.Status],
	}
	if d.DisplayName == "" {
		d.DisplayName = strings.TrimSpace(attr(prof, "firstName") + " " + attr(prof, "lastName"))
	}
	for _, i := range in {
		g := groups[i]
		d.Groups = append(d.Groups, g.name, g.id)
	}
	return d
}

// attr reads a profile attribute as text; custom attributes can hold
// numbers or lists, whose first value is taken.
func attr(p okta.UserProfile, name string) string {
	switch v := p[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case []any:
		if len(v) == 0 {
			return ""
		}
		return attr(okta.UserProfile{name: v[0]}, name)
	default:
		return fmt.Sprint(v)
	}
}
