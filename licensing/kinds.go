package licensing

import (
	"fmt"
	"strings"
)

// Licence categories. A template that does not preserve existing licences
// removes only what the user holds in the categories the template carries:
// a Calling template never takes a Meetings licence away.
const (
	CategoryCalling          = "calling"
	CategoryWorkspaceCalling = "calling-workspace"
	CategoryContactCenter    = "contact-center"
	CategoryMeetings         = "meetings"
	CategoryMessaging        = "messaging"
)

// Contact Center agent kinds: a user holds one or the other, never both.
const (
	AgentStandard = "standard"
	AgentPremium  = "premium"
)

// Category is the family the licence belongs to, read from its name (the
// licences API carries no type). A licence of no known family is its own
// category, named by its lower-case name, so it is only ever replaced by the
// same licence from another subscription.
func (l Licence) Category() string {
	n := strings.ToLower(l.Name)
	switch {
	case strings.Contains(n, "calling") && strings.Contains(n, "workspace"):
		return CategoryWorkspaceCalling
	case strings.Contains(n, "calling"):
		return CategoryCalling
	case strings.Contains(n, "contact cent"):
		return CategoryContactCenter
	case strings.Contains(n, "meeting"):
		return CategoryMeetings
	case strings.Contains(n, "messaging"):
		return CategoryMessaging
	}
	return n
}

// AgentKind is AgentStandard or AgentPremium for a Contact Center agent
// licence, "" for anything else.
func (l Licence) AgentKind() string {
	if l.Category() != CategoryContactCenter {
		return ""
	}
	n := strings.ToLower(l.Name)
	switch {
	case strings.Contains(n, "premium"):
		return AgentPremium
	case strings.Contains(n, "standard"):
		return AgentStandard
	}
	return ""
}

// AgentKindOfName is AgentKind for a licence known only by its name, as a
// template names it before the organisation is read.
func AgentKindOfName(name string) string { return Licence{Name: name}.AgentKind() }

// Removals guards destructive changes: removing a Calling licence deletes a
// user's voicemail, number and call settings for good.
type Removals struct {
	// Acknowledge must be true for any pass to remove a licence.
	Acknowledge bool
	// MaxFraction is the largest share of a pass's users that may lose a
	// licence; over it the pass stops before its first write. 0 allows no
	// removal at all.
	MaxFraction float64
}

// RemovalRefused is why a pass will not remove licences: the error names
// the count and the setting to change.
type RemovalRefused struct {
	// Removing is how many users would lose a licence, out of Users.
	Removing, Users int
	Removals        Removals
}

func (e *RemovalRefused) Error() string {
	if !e.Removals.Acknowledge {
		return fmt.Sprintf("removals: the pass would remove licences from %d of %d users and removals.acknowledge is false; nothing was changed. "+
			"Removing a Calling licence deletes voicemail, numbers and call settings: set removals.acknowledge: true to allow it, "+
			"or set preserve_existing: true on the templates and point them at the users' current subscriptions", e.Removing, e.Users)
	}
	if e.Removals.MaxFraction == 0 {
		return fmt.Sprintf("removals: the pass would remove licences from %d of %d users and removals.max_fraction is 0, which allows no removal; nothing was changed. "+
			"Check the templates, then raise removals.max_fraction if this is intended", e.Removing, e.Users)
	}
	return fmt.Sprintf("removals: the pass would remove licences from %d of %d users (%.1f%%), over removals.max_fraction %g (%.1f%%); nothing was changed. "+
		"Check the templates, then raise removals.max_fraction if this is intended",
		e.Removing, e.Users, 100*float64(e.Removing)/float64(max(e.Users, 1)), e.Removals.MaxFraction, 100*e.Removals.MaxFraction)
}

// Allow returns nil when a pass over users users may remove licences from
// removing of them, and a *RemovalRefused saying why not otherwise.
func (r Removals) Allow(removing, users int) error {
	if removing == 0 {
		return nil
	}
	if !r.Acknowledge || float64(removing) > r.MaxFraction*float64(users) {
		return &RemovalRefused{Removing: removing, Users: users, Removals: r}
	}
	return nil
}
