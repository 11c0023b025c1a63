// Package doctor is what `licensync doctor` reports: one check per
// connection, permission or resource a configuration needs, each saying what
// was tried, what was found and, when it failed, the fix. Checks read and
// probe; none writes anything, so doctor is safe to run next to a live
// daemon.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// A Check is the outcome of one probe. It is a plain value so that each
// source or target can produce its own next to the internals it probes.
type Check struct {
	// Name says what is checked, e.g. "ldap bind" or "report directory".
	Name string `json:"name"`
	// OK is true when the check passed.
	OK bool `json:"ok"`
	// Unverified marks a check that could not be made without writing or
	// without an API that says; it neither passes nor fails doctor.
	Unverified bool `json:"unverified,omitempty"`
	// Tried is what was done, e.g. "bind as cn=sync,dc=example,dc=org".
	Tried string `json:"tried"`
	// Detail is what was found: the value on success, the problem on failure.
	Detail string `json:"detail,omitempty"`
	// Fix says what the operator changes when the check failed.
	Fix string `json:"fix,omitempty"`
}

// Pass returns a passed check.
func Pass(name, tried, detail string) Check {
	return Check{Name: name, OK: true, Tried: tried, Detail: detail}
}

// Fail returns a failed check.
func Fail(name, tried, detail, fix string) Check {
	return Check{Name: name, Tried: tried, Detail: detail, Fix: fix}
}

// Unknown returns a check that could not be made; fix says how the operator
// can make it themselves.
func Unknown(name, tried, detail, fix string) Check {
	return Check{Name: name, Unverified: true, Tried: tried, Detail: detail, Fix: fix}
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if !c.OK && !c.Unverified {
			return true
		}
	}
	return false
}

// Mark is the symbol a check's line starts with.
func (c Check) Mark() string {
	switch {
	case c.OK:
		return "✓"
	case c.Unverified:
		return "?"
	default:
		return "✗"
	}
}

// line is one check as one line of text.
func (c Check) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", c.Mark(), c.Name, oneLine(c.Tried))
	if c.Detail != "" {
		fmt.Fprintf(&b, " → %s", oneLine(c.Detail))
	}
	if !c.OK && c.Fix != "" {
		fmt.Fprintf(&b, " — fix: %s", oneLine(c.Fix))
	}
	return b.String()
}

// oneLine keeps a server's multi-line message from breaking the one line a
// check gets.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// WriteText writes one line per check and a closing count.
func WriteText(w io.Writer, checks []Check) error {
	var failed, unknown int
	for _, c := range checks {
		if _, err := fmt.Fprintln(w, c.line()); err != nil {
			return err
		}
		switch {
		case c.Unverified:
			unknown++
		case !c.OK:
			failed++
		}
	}
	summary := fmt.Sprintf("%d check(s): %d passed, %d failed", len(checks), len(checks)-failed-unknown, failed)
	if unknown > 0 {
		summary += fmt.Sprintf(", %d not verifiable", unknown)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

// Result is the JSON document doctor --format json writes.
type Result struct {
	// OK is true when no check failed: doctor's exit status 0.
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// WriteJSON writes the checks as one JSON document.
func WriteJSON(w io.Writer, checks []Check) error {
	if checks == nil {
		checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Result{OK: !Failed(checks), Checks: checks})
}
