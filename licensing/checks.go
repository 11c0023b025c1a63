package licensing

// CheckState is how one rule fared for one user.
type CheckState string

// The states of a check.
const (
	// CheckPassed: the rule holds and the decision went on.
	CheckPassed CheckState = "passed"
	// CheckFailed: the rule does not hold; it decided the user.
	CheckFailed CheckState = "failed"
	// CheckNotReached: an earlier check decided the user.
	CheckNotReached CheckState = "not reached"
	// CheckNotNeeded: the person already holds Calling on the directory's
	// number, so the number checks do not apply.
	CheckNotNeeded CheckState = "not needed"
)

// Check is one rule of the decision and how it fared.
type Check struct {
	// Rule says what must hold, in the help desk's words.
	Rule string `json:"rule"`
	// Cause is what the user fails or is skipped with when the rule does
	// not hold; empty for the rule that tells a person who already has
	// Calling (ALREADY_PROVISIONED or DRIFT).
	Cause Cause      `json:"cause,omitempty"`
	State CheckState `json:"state"`
	// Detail is the decision's detail, on the check that decided.
	Detail string `json:"detail,omitempty"`
}

// heldRule is the index in checkRules of the rule a person with Calling
// stops at, and numberRules the number checks such a person skips.
const (
	heldRule    = 9
	numberRules = 4
)

// checkRules are the rules in the order Screen and Decide run them.
var checkRules = []struct {
	rule   string
	causes []Cause
}{
	{"The directory record could be read whole", []Cause{CauseUnreadableRecord}},
	{"No other directory record carries the user's id", []Cause{CauseDuplicateID}},
	{"No other directory record carries the user's email", []Cause{CauseDuplicateEmail}},
	{"The directory account is enabled", []Cause{CauseDisabled}},
	{"The email is not on a public mail domain", []Cause{CauseConsumerDomain}},
	{"A template covers the user's groups", []Cause{CauseOutOfScope}},
	{"The work phone is filled in", []Cause{CauseNoWorkPhone}},
	{"The work phone is a valid E.164 number", []Cause{CauseInvalidE164}},
	{"A Webex person has the user's email", []Cause{CauseWebexUserNotFound, CauseAPIError}},
	{"The person has no Calling licence yet", nil},
	{"No other directory user carries the number", []Cause{CauseNumberClaimedTwice}},
	{"The number is in the calling number inventory", []Cause{CauseNumberNotProvisioned}},
	{"The number's location can provision users", []Cause{CauseNumberLocationInvalid}},
	{"The number has no other owner", []Cause{CauseNumberAssignedToOther}},
	{"The template's licences are available to the person", []Cause{CauseLicenceUnavailable, CauseAgentLicenceConflict}},
}

// Checks lists the rules in the order the decision runs them, each with
// how it fared for the decision d that Screen and Decide made with the
// facts f on the snapshot org: the checks before the one that decided
// passed, that one failed, the rest were not reached. For a person who
// already holds Calling, the number checks are not needed, and the
// template's licences are checked only when the number is the
// directory's. It only reads its arguments.
func Checks(f Facts, org *Org, d Decision) []Check {
	decider := len(checkRules) // none: every rule passed
	switch d.Outcome {
	case AlreadyProvisioned, Drift:
		decider = heldRule
	case Failed, Skipped:
		for i, r := range checkRules {
			for _, c := range r.causes {
				if c == d.Cause {
					decider = i
				}
			}
		}
	}
	held := f.Person != nil && org != nil && org.HasCalling(f.Person) && decider >= heldRule
	out := make([]Check, len(checkRules))
	for i, r := range checkRules {
		c := Check{Rule: r.rule, State: CheckPassed}
		if len(r.causes) > 0 {
			c.Cause = r.causes[0]
		}
		switch {
		case held && i == heldRule:
			c.State = CheckFailed
			if decider == heldRule {
				c.Detail = d.Detail
			}
		case held && i > heldRule && i <= heldRule+numberRules:
			c.State = CheckNotNeeded
		case held && decider == heldRule && i > heldRule:
			c.State = CheckNotReached
		case i == decider:
			c.State, c.Cause, c.Detail = CheckFailed, d.Cause, d.Detail
		case i > decider:
			c.State = CheckNotReached
		}
		out[i] = c
	}
	return out
}
