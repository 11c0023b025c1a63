package pass

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// healer is the healing stage of an incremental pass. The directory says
// nothing new about a user whose failure is fixed on the target side (the
// connector creates the person, a number is added, units are bought), so
// the source's changes never bring them back; the healer feeds them into
// the pass after the source's users, where they are screened, counted,
// decided, applied and recorded like any other.
//
// Their directory record is the one the store kept from their last
// decision, not one read again from the source: reading by id costs a
// request per user on every source, and not every source can read by id.
// The stored record is what the last decision saw, and a real change to it
// arrives through the incremental stream, which wins: a user the source
// read in this pass is never fed again.
//
// To stay cheap with thousands failing, only users the fresh snapshot shows
// cleared are fed (licensing.Policy.SnapshotClears), and users without a
// person (WEBEX_USER_NOT_FOUND) or whose write failed (API_ERROR) are fed
// on a per-user backoff (lookupWait): every pass in the failure's first
// hour, then at most once a day.
type healer struct {
	policy *licensing.Policy
	org    *licensing.Org
	store  *Store
	now    time.Time
	log    *zap.Logger
	// read holds the ids the source emitted in this pass; fed users are
	// added as they are fed.
	read map[string]bool
	// fed maps each fed user to the failure they were fed for.
	fed map[string]healing
}

// healing is the failure a user was fed again for.
type healing struct {
	cause licensing.Cause
	since time.Time
}

// healingSource runs the source and then, when it read only what changed,
// feeds the healer's users through the same emit.
type healingSource struct {
	Source
	h *healer
	// read counts the users fed, as the source counts those it read.
	read *atomic.Int64
}

func (s healingSource) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	next, full, err := s.Source.Users(ctx, since, func(u licensing.DirectoryUser) error {
		s.h.read[u.ID] = true
		return emit(u)
	})
	if err != nil || full {
		return next, full, err
	}
	return next, full, s.h.feed(ctx, func(u licensing.DirectoryUser) error {
		s.read.Add(1)
		return emit(u)
	})
}

// feed emits the stored record of every standing failure that is due.
func (h *healer) feed(ctx context.Context, emit func(licensing.DirectoryUser) error) error {
	var due []*Failure
	standing, err := h.store.standingFailures(ctx, licensing.HealableCauses)
	if err != nil {
		return err
	}
	err = h.store.dueFailures(ctx, licensing.HealableCauses, h.now, func(f *Failure) error {
		if h.due(f) {
			due = append(due, f)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range due {
		h.fed[f.SourceID] = healing{cause: licensing.Cause(f.Cause), since: f.FailingSince}
		h.read[f.SourceID] = true
		if err := emit(f.Record); err != nil {
			return err
		}
	}
	if standing > 0 {
		h.log.Info("standing failures decided again", zap.Int("due", len(due)), zap.Int("standing", standing))
	}
	return nil
}

// due reports whether a standing failure is decided again in this pass.
func (h *healer) due(f *Failure) bool {
	if !f.HasRecord || h.read[f.SourceID] {
		return false
	}
	cause := licensing.Cause(f.Cause)
	if backoffCause(cause) {
		return !f.NextLookup.After(h.now)
	}
	return h.policy.SnapshotClears(h.policy.Screen(f.Record), cause, f.Detail, h.org)
}

// ageNote is what a fed user's report row adds to the detail when the user
// still fails the same way: how long the failure has stood.
func (h *healer) ageNote(row *Row) string {
	if h == nil || row.Outcome != string(licensing.Failed) {
		return ""
	}
	f, ok := h.fed[row.SourceID]
	if !ok || string(f.cause) != row.Cause || f.since.IsZero() {
		return ""
	}
	return " (failing for " + FormatAge(h.now.Sub(f.since)) + ")"
}

// FormatAge writes a failure's age to the minute, as reports and check
// print it: "under a minute", "45m", "3h12m", and "4d3h" from two days on,
// where minutes no longer matter.
func FormatAge(d time.Duration) string {
	if d < 30*time.Second {
		return "under a minute"
	}
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf("%dm", m)
	case m < 48*60:
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	h := int(d.Round(time.Hour) / time.Hour)
	return fmt.Sprintf("%dd%dh", h/24, h%24)
}
