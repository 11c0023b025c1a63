package licensing

import (
	"fmt"
	"slices"
)

// LookupsDown is how many person look-ups in a row may fail before the
// target is taken for down and the pass stops: one failure fails one user,
// a run of them means no user can be decided.
const LookupsDown = 20

// LookupErrors is the error a target's people look-up returns when some
// emails could not be looked up, keyed by lower-case email; the people it
// returns beside it are the others'. One failed look-up fails one user
// (API_ERROR) and the pass goes on; any other error means the look-up as a
// whole failed (a rejected token, a cancelled pass).
type LookupErrors map[string]error

func (e LookupErrors) Error() string {
	emails := make([]string, 0, len(e))
	for k := range e {
		emails = append(emails, k)
	}
	slices.Sort(emails)
	if len(emails) == 0 {
		return "no person look-up failed"
	}
	return fmt.Sprintf("%d person look-up(s) failed, the first of them %s: %v", len(emails), emails[0], e[emails[0]])
}
