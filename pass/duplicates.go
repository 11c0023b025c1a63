package pass

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/licensync/licensync/licensing"
)

// recordKeys counts the directory records per id and per email, so that
// records sharing one fail instead of overwriting each other. Screening
// keeps one 64-bit hash per id and per email (16 bytes a record, against a
// map's several times that at a million users); settle then sorts them once
// and keeps only the keys met more than once, usually none.
type recordKeys struct {
	all  []uint64
	many map[uint64]int32
}

// The two seeds keep an id and an email with the same text apart.
var idSeed, emailSeed = maphash.MakeSeed(), maphash.MakeSeed()

func idKey(id string) (uint64, bool) {
	if id == "" {
		return 0, false
	}
	return maphash.String(idSeed, id), true
}

func emailKey(email string) (uint64, bool) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return 0, false
	}
	return maphash.String(emailSeed, e), true
}

// add counts a record read in this pass.
func (k *recordKeys) add(u *licensing.DirectoryUser) {
	if h, ok := idKey(u.ID); ok {
		k.all = append(k.all, h)
	}
	k.addEmail(u.Email)
}

func (k *recordKeys) addEmail(email string) {
	if h, ok := emailKey(email); ok {
		k.all = append(k.all, h)
	}
}

// settle ends the counting: only the keys held by more than one record stay.
func (k *recordKeys) settle() {
	slices.Sort(k.all)
	k.many = map[uint64]int32{}
	for i := 0; i < len(k.all); {
		j := i + 1
		for j < len(k.all) && k.all[j] == k.all[i] {
			j++
		}
		if j-i > 1 {
			k.many[k.all[i]] = int32(j - i)
		}
		i = j
	}
	k.all = nil
}

// count returns how many records carry the key (at least 1).
func (k *recordKeys) count(h uint64, ok bool) int {
	if n := k.many[h]; ok && n > 1 {
		return int(n)
	}
	return 1
}

// sameID and sameEmail are the facts the decision needs.
func (k *recordKeys) sameID(u *licensing.DirectoryUser) int    { return k.count(idKey(u.ID)) }
func (k *recordKeys) sameEmail(u *licensing.DirectoryUser) int { return k.count(emailKey(u.Email)) }

// shared reports whether u shares its id or its email with another record.
func (k *recordKeys) shared(u *licensing.DirectoryUser) bool {
	return k.sameID(u) > 1 || k.sameEmail(u) > 1
}

// emails adds the emails of the stored users an incremental pass did not
// read again (skip holds the ids it read): a record whose email a user of
// another id already holds is a duplicate though that user did not change.
// Ids need no such merge: the store holds one user per id, the same record.
func (s *Store) emails(ctx context.Context, skip map[string]bool, keys *recordKeys) error {
	rows, err := s.db.QueryContext(ctx, "SELECT source_id, email FROM users WHERE email <> ''")
	if err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, e string
		if err := rows.Scan(&id, &e); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		if !skip[id] {
			keys.addEmail(e)
		}
	}
	return rows.Err()
}
