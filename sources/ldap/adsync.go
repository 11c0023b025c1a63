package ldap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// Removing a member from an AD group changes neither the user's uSNChanged
// nor anything the user search can see, and deleting a user moves it to
// Deleted Objects. An incremental AD pass therefore asks two more
// questions of the domain controller:
//
//   - DirSync (1.2.840.113556.1.4.841) over the domain's groups, with
//     incremental values, returns the member values removed since the
//     cookie the previous pass kept; those users are read again.
//   - A search with the Show Deleted control (1.2.840.113556.1.4.417) finds
//     the tombstones of users deleted since the checkpoint's USN whose last
//     parent was under base_dn; they are reported removed.
//
// DirSync needs the bind account to read the groups; a DC or account that
// refuses it leaves group removals to the next full pass, with a warning.

// dirSyncFlags asks for changed values only, and for objects the bind
// account may read without the Replicating Directory Changes right.
const dirSyncFlags = goldap.DirSyncIncrementalValues | goldap.DirSyncObjectSecurity

// removedRange is how DirSync names removed values of an attribute.
const removedRange = ";range=0-0"

// groupChanges runs DirSync over the groups from the previous pass's cookie
// and keeps the member values removed since then. It runs before the users
// are read, so a change made during the pass is seen again by the next one.
// A full pass only takes the cookie, with a filter nothing matches: the
// cookie marks how far the DC's changes go, whatever the filter, and a
// DirSync from scratch over the groups would return every member of every
// group.
func (p *pass) groupChanges(ctx context.Context) error {
	if p.nc == "" {
		return nil
	}
	conn, u := p.s.current()
	filter := "(objectClass=group)"
	var cookie []byte
	if p.full || p.prev.GroupCookie == nil {
		filter = "(&(objectClass=group)(!(objectClass=group)))"
	} else {
		cookie = p.prev.GroupCookie
	}
	ctrl := goldap.NewRequestControlDirSync(dirSyncFlags, 0, cookie)
	limit := int(p.s.cfg.Timeout.D().Seconds())
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		req := goldap.NewSearchRequest(p.nc, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, limit, false,
			filter, []string{"member"}, []goldap.Control{ctrl})
		res, err := conn.Search(req)
		if err != nil {
			if lost := lostIfClosed(conn, searchError(u, p.nc, n, err)); isLost(lost) {
				return lost
			}
			p.s.log.Warn("ldap: the domain controller refused DirSync over the groups; users removed from a group are found by the next full pass (grant the bind account read access to the groups)",
				zap.String("server", u), zap.Error(err))
			p.next.GroupCookie = nil
			return nil
		}
		p.s.stats.Pages++
		licensing.Answered(ctx)
		if !p.full {
			for _, e := range res.Entries {
				for _, a := range e.Attributes {
					if strings.EqualFold(a.Name, "member"+removedRange) {
						p.removed = append(p.removed, a.Values...)
					}
				}
			}
		}
		rc, _ := goldap.FindControl(res.Controls, goldap.ControlTypeDirSync).(*goldap.ControlDirSync)
		if rc == nil || len(rc.Cookie) == 0 {
			p.s.log.Warn("ldap: the domain controller answered DirSync without a cookie; users removed from a group are found by the next full pass", zap.String("server", u))
			p.next.GroupCookie = nil
			return nil
		}
		p.next.GroupCookie = rc.Cookie
		if rc.Flags == 0 {
			return nil
		}
		ctrl.SetCookie(rc.Cookie)
	}
}

func isLost(err error) bool {
	_, ok := err.(*lostError)
	return ok
}

// removedMembers reads again the users removed from a group since the
// previous pass, and the users below a removed nested group.
func (p *pass) removedMembers(ctx context.Context) error {
	cfg := p.s.cfg
	for _, dn := range p.removed {
		if p.emitted[normDN(dn)] {
			continue
		}
		if under(dn, cfg.BaseDN) {
			e, err := p.s.entry(dn, cfg.Filter, p.userAttrs())
			if err != nil {
				return err
			}
			if e != nil {
				if err := p.reread(e); err != nil {
					return err
				}
				continue
			}
		}
		// Not a user of base_dn: a group, whose members lost what it gave.
		filter := fmt.Sprintf("(&%s(memberOf:1.2.840.113556.1.4.1941:=%s))", cfg.Filter, goldap.EscapeFilter(dn))
		if err := p.s.search(ctx, cfg.BaseDN, goldap.ScopeWholeSubtree, filter, p.userAttrs(), p.reread); err != nil {
			return err
		}
	}
	return nil
}

// deletedUsers reports the users deleted since the checkpoint: tombstones
// whose last parent was under base_dn.
func (p *pass) deletedUsers(ctx context.Context) error {
	if p.nc == "" {
		return nil
	}
	cfg := p.s.cfg
	filter := fmt.Sprintf("(&(isDeleted=TRUE)(objectClass=user)(!(objectClass=computer))(uSNChanged>=%d))", p.prev.USN+1)
	attrs := []string{cfg.Attributes.ID, "lastKnownParent"}
	show := goldap.NewControlString(goldap.ControlTypeMicrosoftShowDeleted, true, "")
	err := p.s.search(ctx, p.nc, goldap.ScopeWholeSubtree, filter, attrs, func(e *goldap.Entry) error {
		if parent := e.GetAttributeValue("lastKnownParent"); !under(parent, cfg.BaseDN) {
			return nil
		}
		id := e.GetEqualFoldAttributeValue(cfg.Attributes.ID)
		if strings.EqualFold(cfg.Attributes.ID, "objectGUID") {
			id = guidString(e.GetEqualFoldRawAttributeValue(cfg.Attributes.ID))
		}
		if id == "" {
			p.s.log.Info("ldap: a deleted user keeps no id attribute; the next full pass drops it", zap.String("dn", e.DN), zap.String("id", cfg.Attributes.ID))
			return nil
		}
		if err := p.emit(licensing.DirectoryUser{ID: id, Removed: true}); err != nil {
			return &emitError{err}
		}
		p.s.stats.Removed++
		return nil
	}, show)
	var ee *emitError
	if err == nil || isLost(err) || errors.As(err, &ee) || ctx.Err() != nil {
		return err
	}
	p.s.log.Warn("ldap: the domain controller refused the search for deleted users; the next full pass drops them (grant the bind account List Contents on Deleted Objects)",
		zap.Error(err))
	return nil
}

// under reports whether dn is base or below it.
func under(dn, base string) bool {
	d, b := normDN(dn), normDN(base)
	return d == b || strings.HasSuffix(d, ","+b)
}
