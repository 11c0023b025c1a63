package ldap

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/licensync/licensync/licensing"
)

// UserByID reads one user again as a full pass does: one search under
// base_dn for the id with the source's filter, and the group graph the pass
// resolves nesting with. A user the directory does not have (or that the
// filter leaves out) is licensing.ErrUserNotFound.
func (s *Source) UserByID(ctx context.Context, id string) (licensing.DirectoryUser, error) {
	stop := context.AfterFunc(ctx, s.closeConn)
	defer stop()
	if c, _ := s.current(); c == nil || c.IsClosing() {
		if err := s.connect(ctx); err != nil {
			return licensing.DirectoryUser{}, err
		}
	}
	cfg := s.cfg
	match, err := s.idFilter(id)
	if err != nil {
		return licensing.DirectoryUser{}, err
	}
	p := &pass{s: s, full: true}
	dse, err := s.entry("", "(objectClass=*)", []string{"namingContexts", "defaultNamingContext"})
	if err != nil {
		return licensing.DirectoryUser{}, err
	}
	if dse == nil {
		dse = &goldap.Entry{}
	}
	p.groupBase = or(cfg.GroupBaseDN, or(namingContext(dse, cfg.BaseDN), cfg.BaseDN))
	if cfg.Dialect != DialectAD {
		if p.memberOf, err = p.keepsMemberOf(); err != nil {
			return licensing.DirectoryUser{}, err
		}
	}
	var found []*goldap.Entry
	filter := fmt.Sprintf("(&%s%s)", cfg.Filter, match)
	if err := s.search(ctx, cfg.BaseDN, goldap.ScopeWholeSubtree, filter, p.userAttrs(), func(e *goldap.Entry) error {
		found = append(found, e)
		return nil
	}); err != nil {
		return licensing.DirectoryUser{}, err
	}
	if len(found) == 0 {
		return licensing.DirectoryUser{}, fmt.Errorf("ldap: no entry under %q matches %s: %w", cfg.BaseDN, filter, licensing.ErrUserNotFound)
	}
	if err := p.loadGroups(ctx); err != nil {
		return licensing.DirectoryUser{}, err
	}
	return s.toUser(found[0], p.graph), nil
}

// idFilter is the equality filter on the id attribute for id as the source
// renders it: AD's objectGUID is matched on its bytes, each escaped.
func (s *Source) idFilter(id string) (string, error) {
	a := s.cfg.Attributes.ID
	if !strings.EqualFold(a, "objectGUID") {
		return fmt.Sprintf("(%s=%s)", a, goldap.EscapeFilter(id)), nil
	}
	b, err := guidBytes(id)
	if err != nil {
		return "", fmt.Errorf("ldap: id %q is not an objectGUID: %w", id, err)
	}
	var f strings.Builder
	f.WriteString("(" + a + "=")
	for _, c := range b {
		fmt.Fprintf(&f, `\%02x`, c)
	}
	f.WriteString(")")
	return f.String(), nil
}

// guidBytes is guidString reversed: the standard string form back to the
// bytes AD stores, the first three fields little-endian; a value that
// guidString gave as plain hex is decoded as such.
func guidBytes(id string) ([]byte, error) {
	if len(id) != 36 || strings.Count(id, "-") != 4 {
		return hex.DecodeString(id)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, errors.New("want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	}
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b, nil
}
