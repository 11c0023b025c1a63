package licensing

import "strings"

// HealableCauses are the failures whose fix is made on the target side, with
// no change in the directory: the person is created by the directory
// connector, the number added to the inventory, the location enabled for
// Calling, the number released by its owner, units bought or the
// subscription renewed, a transient API error gone. An incremental pass
// decides these users again. CONTACT_CENTER_AGENT_CONFLICT is not one of
// them: it is fixed in the configuration.
var HealableCauses = []Cause{
	CauseWebexUserNotFound, CauseNumberNotProvisioned, CauseNumberLocationInvalid,
	CauseNumberAssignedToOther, CauseLicenceUnavailable, CauseAPIError,
}

// SnapshotClears reports whether org shows the blocker of a failure gone,
// so that deciding the user again may change the outcome; s is the user's
// stored record screened again, cause and detail the failure recorded for
// it. It is true for a user the policy now decides without the target (the
// configuration changed), since that costs no request. The snapshot holds
// no people and no trace of a passing error, so it never clears
// WEBEX_USER_NOT_FOUND or API_ERROR: those are retried on a schedule.
func (p *Policy) SnapshotClears(s Screened, cause Cause, detail string, org *Org) bool {
	if s.Early != nil {
		return true
	}
	num, inInventory := org.Numbers.Get(s.E164)
	switch cause {
	case CauseNumberNotProvisioned:
		return inInventory
	case CauseNumberLocationInvalid:
		loc, ok := org.Locations[num.LocationID]
		return !inInventory || (ok && loc.CallingEnabled)
	case CauseNumberAssignedToOther:
		// The failure named the owner; any other owner may be this person.
		return !inInventory || num.OwnerID == "" || !strings.HasPrefix(detail, assignedDetail(s.E164, num))
	case CauseLicenceUnavailable:
		lics, why := ResolveLicences(&p.Templates[s.Template], org)
		if why != "" {
			return false
		}
		for _, l := range lics {
			if strings.HasPrefix(detail, unavailableRef(l)) {
				return (l.Status == "" || l.Status == StatusActive) && l.Free() > 0
			}
		}
		// The failure named a licence the template did not resolve to,
		// which it now does.
		return true
	}
	return false
}
