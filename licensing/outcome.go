package licensing

// Outcome is what a pass did, or would do, for one user.
type Outcome string

// The outcomes a report can carry.
const (
	WouldProvision     Outcome = "WOULD_PROVISION"
	Provisioned        Outcome = "PROVISIONED"
	AlreadyProvisioned Outcome = "ALREADY_PROVISIONED"
	Drift              Outcome = "DRIFT"
	Skipped            Outcome = "SKIPPED"
	Failed             Outcome = "FAILED"
)

// Cause says why a user was skipped or could not be provisioned.
type Cause string

// Skip reasons.
const (
	CauseDisabled       Cause = "DISABLED"
	CauseConsumerDomain Cause = "CONSUMER_DOMAIN"
	CauseOutOfScope     Cause = "OUT_OF_SCOPE"
)

// Failure causes, as the design lists them.
const (
	CauseNoWorkPhone           Cause = "NO_WORK_PHONE"
	CauseInvalidE164           Cause = "INVALID_E164"
	CauseNumberNotProvisioned  Cause = "NUMBER_NOT_PROVISIONED"
	CauseNumberLocationInvalid Cause = "NUMBER_LOCATION_INVALID"
	CauseNumberAssignedToOther Cause = "NUMBER_ASSIGNED_TO_OTHER"
	CauseNumberClaimedTwice    Cause = "NUMBER_CLAIMED_TWICE"
	CauseWebexUserNotFound     Cause = "WEBEX_USER_NOT_FOUND"
	CauseLicenceUnavailable    Cause = "LICENCE_UNAVAILABLE"
	CauseAPIError              Cause = "API_ERROR"
	// CauseAgentLicenceConflict: the template's Contact Center agent licence
	// is the other kind than the one the user holds (a user has Standard or
	// Premium, never both), and removals are not acknowledged, or the
	// template itself carries both.
	CauseAgentLicenceConflict Cause = "CONTACT_CENTER_AGENT_CONFLICT"
	// CauseUnreadableRecord: the source found the record but could not read
	// it in full, so nothing it says can be trusted.
	CauseUnreadableRecord Cause = "UNREADABLE_RECORD"
	// CauseDuplicateID: two or more directory records carry the same source
	// id; none of them is applied until the directory is fixed.
	CauseDuplicateID Cause = "DUPLICATE_ID"
	// CauseDuplicateEmail: two or more directory records carry the same email
	// (compared without case); none of them is applied.
	CauseDuplicateEmail Cause = "DUPLICATE_EMAIL"
)

// Causes lists every cause in report order: failures first, then skips.
var Causes = []Cause{
	CauseUnreadableRecord, CauseDuplicateID, CauseDuplicateEmail, CauseNoWorkPhone, CauseInvalidE164, CauseNumberNotProvisioned, CauseNumberLocationInvalid,
	CauseNumberAssignedToOther, CauseNumberClaimedTwice, CauseWebexUserNotFound,
	CauseLicenceUnavailable, CauseAgentLicenceConflict, CauseAPIError,
	CauseDisabled, CauseConsumerDomain, CauseOutOfScope,
}

// SkipReason reports whether c says why a user was skipped (an outcome that
// needs nothing done) rather than why they could not be provisioned.
func (c Cause) SkipReason() bool {
	switch c {
	case CauseDisabled, CauseConsumerDomain, CauseOutOfScope:
		return true
	}
	return false
}

// Fix is the one-line remedy the reports print next to each cause.
func (c Cause) Fix() string {
	switch c {
	case CauseUnreadableRecord:
		return "Correct the directory record named in the detail so that it can be read; until then it is neither licensed nor forgotten."
	case CauseDuplicateID:
		return "Give each directory record its own id (or remove the duplicate export row); until then none of them is licensed."
	case CauseDuplicateEmail:
		return "Give each directory user their own email; until then none of them is licensed."
	case CauseNoWorkPhone:
		return "Enter the user's work phone in the directory, in E.164 form (+country code and number)."
	case CauseInvalidE164:
		return "Correct the work phone in the directory to E.164: a leading '+', the country code, then the national number without a trunk 0."
	case CauseNumberNotProvisioned:
		return "Add the number to the calling inventory of the right location (Control Hub > Calling > Numbers), or correct the directory value."
	case CauseNumberLocationInvalid:
		return "Enable Calling on the number's location, or move the number to a calling-enabled location."
	case CauseNumberAssignedToOther:
		return "Free the number from its current owner, or give this user a different number in the directory."
	case CauseNumberClaimedTwice:
		return "Give each directory user their own number; until then none of them gets it."
	case CauseWebexUserNotFound:
		return "Let the directory connector create the Webex person (check its scope and last sync), or fix the user's email."
	case CauseLicenceUnavailable:
		return "Add units to the template's subscription or renew it, or point the template at a subscription with free units."
	case CauseAgentLicenceConflict:
		return "Give the template one Contact Center agent licence; to swap a user's Standard and Premium Agent in one request, set removals.acknowledge: true, or change it in Control Hub."
	case CauseAPIError:
		return "Retry the pass; if it persists, give the tracking id to Cisco support."
	case CauseDisabled:
		return "Nothing to do: disabled accounts are not licensed."
	case CauseConsumerDomain:
		return "Give the user an address in one of the organisation's domains; public mail domains cannot be managed."
	case CauseOutOfScope:
		return "Add the user to a template's group, or add a template that covers them, if they should have Calling."
	}
	return ""
}

// Decision is the one outcome of the checks for one user.
type Decision struct {
	Outcome Outcome
	Cause   Cause
	// Detail explains the cause in words an administrator can act on.
	Detail string
	// E164 is the normalised work phone, when it parsed.
	E164 string
	// Template is the name of the template that covers the user.
	Template     string
	LocationID   string
	LocationName string
	// Licences are the ids of the template's licences (to add, or held).
	Licences []string
	// Change is what to apply; set only for WOULD_PROVISION.
	Change *Change
}

// Failure reports whether the decision is one the help desk must act on.
func (d Decision) Failure() bool { return d.Outcome == Failed }
