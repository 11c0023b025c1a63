package pass

import (
	"context"
	"hash/maphash"
	"maps"
	"slices"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// recordKeys counts the directory records per id and per email, so that
// records sharing one fail instead of overwriting each other. It keeps one
// 64-bit hash per id and per email.
type recordKeys struct{ tally }

// The two seeds keep an id and an email with the same text apart.
var idSeed, emailSeed = maphash.MakeSeed(), maphash.MakeSeed()

func idKey(id string) (uint64, bool) {
	if id == "" {
		return 0, false
	}
	return maphash.String(idSeed, id), true
}

// normEmail is an email as records are compared: trimmed, lower case.
func normEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func emailKey(email string) (uint64, bool) {
	e := normEmail(email)
	if e == "" {
		return 0, false
	}
	return maphash.String(emailSeed, e), true
}

// add counts a record read in this pass.
func (k *recordKeys) add(u *licensing.DirectoryUser) {
	if h, ok := idKey(u.ID); ok {
		k.tally.add(h)
	}
	k.addEmail(u.Email)
}

func (k *recordKeys) addEmail(email string) {
	if h, ok := emailKey(email); ok {
		k.tally.add(h)
	}
}

// of returns how many records carry the key (at least 1).
func (k *recordKeys) of(h uint64, ok bool) int {
	if !ok {
		return 1
	}
	return k.count(h)
}

// sameID and sameEmail are the facts the decision needs.
func (k *recordKeys) sameID(u *licensing.DirectoryUser) int    { return k.of(idKey(u.ID)) }
func (k *recordKeys) sameEmail(u *licensing.DirectoryUser) int { return k.of(emailKey(u.Email)) }

// shared reports whether u shares its id or its email with another record.
func (k *recordKeys) shared(u *licensing.DirectoryUser) bool {
	return k.sameID(u) > 1 || k.sameEmail(u) > 1
}

// emails adds the emails of the stored users an incremental pass did not
// read again (skip holds the ids it read): a record whose email a user of
// another id already holds is a duplicate though that user did not change.
// Ids need no such merge: the store holds one user per id, the same record.
//
// Only the emails the pass's records carry (want, compared as normEmail
// does) are ever asked for, so only their holders are read: those whose
// email is in printable ASCII from the index of the email trimmed of spaces
// and in lower case, which for them is normEmail's form, and every other
// (spaces Go trims but SQL keeps, letters beyond ASCII) from a partial
// index of such emails, usually empty. Each is checked against want with
// normEmail, so the counts are those of reading every stored email.
func (s *Store) emails(ctx context.Context, skip map[string]bool, want []string, keys *recordKeys) error {
	wanted := map[string]bool{}
	for _, e := range want {
		if e != "" {
			wanted[e] = true
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	args := make([]any, 0, len(wanted))
	for _, e := range slices.Sorted(maps.Keys(wanted)) {
		args = append(args, e)
	}
	added := map[string]bool{}
	add := func(id, email string) {
		if !skip[id] && !added[id] && wanted[normEmail(email)] {
			added[id] = true
			keys.addEmail(email)
		}
	}
	keyed, odd := emailQueries(s.db.dialect)
	if err := s.eachIn(ctx, keyed, args, add); err != nil {
		return err
	}
	return s.each2(ctx, odd, nil, add)
}

// emailQueries are emails' reads of the stored holders of emails: by
// emailKey, the query ending in "IN (", and those with odd emails.
func emailQueries(d dialect) (keyed, odd string) {
	return "SELECT source_id, email FROM users WHERE " + d.emailKey() + " IN (", "SELECT source_id, email FROM users WHERE " + d.oddEmail()
}
