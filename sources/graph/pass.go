package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// checkpoint is what Users returns as next, JSON-encoded.
type checkpoint struct {
	// Scope fingerprints the settings the delta links depend on: changing
	// one needs a full pass.
	Scope string `json:"scope"`
	// Groups are the ids the template and scope groups resolved to, and
	// Nested the groups nested in them: the groups whose membership
	// changes the incremental pass follows.
	Groups []string `json:"groups"`
	Nested []string `json:"nested,omitempty"`
	// Users and GroupsLink are the /users/delta and /groups/delta links.
	Users      string `json:"users"`
	GroupsLink string `json:"groups_delta"`
}

// group is a template or scope group as the tenant names it.
type group struct {
	id, name string
	scope    bool
}

// fullNeeded is why an incremental pass turned into a full one.
type fullNeeded struct{ why string }

func (f *fullNeeded) Error() string { return f.why }

// pass is one read of the directory.
type pass struct {
	s    *Source
	emit func(licensing.DirectoryUser) error
	// groups are the resolved template and scope groups, byID the same
	// keyed by id; nested are the groups found inside them.
	groups []*group
	byID   map[string]*group
	nested map[string]bool
	scoped bool
	// emitted is the users sent so far, kept where a user can be met twice.
	emitted map[string]bool
}

const (
	typeUser  = "#microsoft.graph.user"
	typeGroup = "#microsoft.graph.group"
)

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Users implements the sync.Source port.
func (s *Source) Users(ctx context.Context, since string, emit func(licensing.DirectoryUser) error) (string, bool, error) {
	p := &pass{s: s, emit: emit, byID: map[string]*group{}, nested: map[string]bool{}, emitted: map[string]bool{}}
	if err := p.resolveGroups(ctx); err != nil {
		return "", false, err
	}
	next := checkpoint{Scope: s.fingerprint(), Groups: p.groupIDs()}
	var prev checkpoint
	why := ""
	switch {
	case since == "":
	case json.Unmarshal([]byte(since), &prev) != nil:
		why = "the stored checkpoint is unreadable"
	case prev.Scope != next.Scope:
		why = "the source settings changed since the last pass"
	case !slices.Equal(prev.Groups, next.Groups):
		why = "a template or scope group was renamed, created or deleted"
	case prev.Users == "" || prev.GroupsLink == "":
		why = "the stored checkpoint has no delta link"
	default:
		cp, err := p.incremental(ctx, prev)
		var f *fullNeeded
		if !errors.As(err, &f) {
			if err != nil {
				return "", false, unwrapEmit(err)
			}
			return encode(cp)
		}
		why = f.why
		p.nested, p.emitted = map[string]bool{}, map[string]bool{}
	}
	if why != "" {
		s.log.Warn("graph: reading the whole directory instead of the changes", zap.String("why", why))
	}
	cp, err := p.full(ctx, next)
	if err != nil {
		return "", false, unwrapEmit(err)
	}
	out, _, err := encode(cp)
	return out, true, err
}

// unwrapEmit returns an error from emit as emit gave it.
func unwrapEmit(err error) error {
	var ee *emitError
	if errors.As(err, &ee) {
		return ee.err
	}
	return err
}

func encode(cp checkpoint) (string, bool, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return "", false, fmt.Errorf("graph: checkpoint: %w", err)
	}
	return string(b), false, nil
}

// fingerprint identifies the directory and the query the delta links hold.
func (s *Source) fingerprint() string {
	scope := slices.Clone(s.cfg.Groups)
	tmpl := slices.Clone(s.template)
	for _, l := range [][]string{scope, tmpl} {
		for i := range l {
			l[i] = strings.ToLower(strings.TrimSpace(l[i]))
		}
		sort.Strings(l)
	}
	h := sha256.Sum256([]byte(strings.Join([]string{s.cfg.BaseURL, strings.ToLower(s.cfg.TenantID), s.cfg.Attributes.WorkPhone,
		strings.Join(scope, "\x1f"), strings.Join(tmpl, "\x1f")}, "\x1e")))
	return hex.EncodeToString(h[:12])
}

func (p *pass) groupIDs() []string {
	ids := make([]string, 0, len(p.groups))
	for _, g := range p.groups {
		ids = append(ids, g.id)
	}
	sort.Strings(ids)
	return ids
}

// selectUser is the user properties a pass asks for.
func (s *Source) selectUser() []string {
	sel := []string{"id", "displayName", "userPrincipalName", "mail", "accountEnabled", "businessPhones"}
	if a := s.cfg.Attributes.WorkPhone; !strings.EqualFold(a, "businessPhones") {
		sel = append(sel, a)
	}
	return sel
}

func (s *Source) usersBuilder() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(map[string]string{"baseurl": s.root}, s.adapter)
}

func (s *Source) groupsBuilder() *groups.GroupsRequestBuilder {
	return groups.NewGroupsRequestBuilderInternal(map[string]string{"baseurl": s.root}, s.adapter)
}

// resolveGroups finds the groups the templates and the scope name, by id
// or display name.
func (p *pass) resolveGroups(ctx context.Context) error {
	type want struct {
		name  string
		scope bool
	}
	var wants []want
	seen := map[string]int{}
	add := func(name string, scope bool) {
		name = strings.TrimSpace(name)
		key := strings.ToLower(name)
		if i, ok := seen[key]; ok {
			wants[i].scope = wants[i].scope || scope
			return
		}
		seen[key] = len(wants)
		wants = append(wants, want{name, scope})
	}
	for _, g := range p.s.template {
		add(g, false)
	}
	for _, g := range p.s.cfg.Groups {
		add(g, true)
	}
	for _, w := range wants {
		found, err := p.findGroup(ctx, w.name)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			if w.scope {
				return fmt.Errorf("graph: group %q of source.graph.groups does not exist in tenant %s (check the display name, or give the group's id)", w.name, p.s.cfg.TenantID)
			}
			p.s.log.Warn("graph: a template names a group the tenant does not have; no user matches it", zap.String("group", w.name))
			continue
		}
		for _, g := range found {
			if have, ok := p.byID[g.id]; ok {
				have.scope = have.scope || w.scope
				continue
			}
			g.scope = w.scope
			p.byID[g.id] = g
			p.groups = append(p.groups, g)
		}
		p.scoped = p.scoped || w.scope
	}
	return nil
}

func (p *pass) findGroup(ctx context.Context, name string) ([]*group, error) {
	sel := []string{"id", "displayName"}
	if guid.MatchString(name) {
		ri, err := p.s.groupsBuilder().ByGroupId(name).ToGetRequestInformation(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: sel}})
		var g rawGroup
		if err == nil {
			err = p.s.getJSON(ctx, ri, &g)
		}
		var ae *APIError
		if err = p.s.explain(fmt.Sprintf("looking up group %s", name), err); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		return []*group{{id: g.ID, name: g.DisplayName}}, nil
	}
	filter := "displayName eq '" + strings.ReplaceAll(name, "'", "''") + "'"
	ri, err := p.s.groupsBuilder().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &filter, Select: sel}})
	if err != nil {
		return nil, err
	}
	var found []*group
	_, err = rawWalk(ctx, p.s, fmt.Sprintf("looking up group %q", name), ri, func(g rawGroup) error {
		found = append(found, &group{id: g.ID, name: g.DisplayName})
		return nil
	})
	return found, err
}

// full reads the whole directory, after taking the delta links that the
// next incremental pass starts from.
func (p *pass) full(ctx context.Context, cp checkpoint) (checkpoint, error) {
	s := p.s
	var err error
	if cp.Users, err = p.latest(ctx, "/users/delta()", s.selectUser()); err != nil {
		return cp, err
	}
	if cp.GroupsLink, err = p.latest(ctx, "/groups/delta()", []string{"displayName", "members"}); err != nil {
		return cp, err
	}
	members := map[string][]*group{}
	for _, g := range p.groups {
		if err := p.transitiveMembers(ctx, g, members); err != nil {
			return cp, err
		}
	}
	for id := range p.nested {
		cp.Nested = append(cp.Nested, id)
	}
	sort.Strings(cp.Nested)

	top := int32(s.cfg.PageSize)
	sel := s.selectUser()
	send := func(u rawUser) error {
		if p.scoped {
			if p.emitted[u.ID] {
				return nil
			}
			p.emitted[u.ID] = true
		}
		return p.send(s.toUser(u, members[u.ID]))
	}
	if !p.scoped {
		ri, err := s.usersBuilder().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: sel, Top: &top}})
		if err == nil {
			_, err = rawWalk(ctx, s, "reading /users", ri, send)
		}
		return cp, err
	}
	for _, g := range p.groups {
		if !g.scope {
			continue
		}
		ri, err := s.groupsBuilder().ByGroupId(g.id).TransitiveMembers().GraphUser().ToGetRequestInformation(ctx,
			&groups.ItemTransitiveMembersGraphUserRequestBuilderGetRequestConfiguration{
				QueryParameters: &groups.ItemTransitiveMembersGraphUserRequestBuilderGetQueryParameters{Select: sel, Top: &top}})
		if err == nil {
			_, err = rawWalk(ctx, s, fmt.Sprintf("reading the members of group %q", g.name), ri, send)
		}
		if err != nil {
			return cp, err
		}
	}
	return cp, nil
}

// latest returns the delta link of the current state of a collection
// ($deltatoken=latest), without reading the collection.
func (p *pass) latest(ctx context.Context, path string, sel []string) (string, error) {
	q := url.Values{"$select": {strings.Join(sel, ",")}, "$deltatoken": {"latest"}}
	raw := p.s.root + path + "?" + q.Encode()
	var link string
	_, err := rawWalk(ctx, p.s, "starting "+strings.TrimSuffix(path, "()"), getURL(raw),
		func(rawObject) error { return nil }, func(delta string) { link = delta })
	if err == nil && link == "" {
		err = fmt.Errorf("graph: %s answered without a @odata.deltaLink", path)
	}
	return link, err
}

// transitiveMembers records g in the memberships of every user under it,
// and the groups nested in it.
func (p *pass) transitiveMembers(ctx context.Context, g *group, members map[string][]*group) error {
	s := p.s
	top := int32(s.cfg.PageSize)
	ri, err := s.groupsBuilder().ByGroupId(g.id).TransitiveMembers().ToGetRequestInformation(ctx,
		&groups.ItemTransitiveMembersRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.ItemTransitiveMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
	if err != nil {
		return err
	}
	_, err = rawWalk(ctx, s, fmt.Sprintf("reading the members of group %q", g.name), ri, func(o rawObject) error {
		switch o.Type {
		case typeUser:
			if !slices.Contains(members[o.ID], g) {
				members[o.ID] = append(members[o.ID], g)
			}
		case typeGroup:
			p.nested[o.ID] = true
		}
		return nil
	})
	return err
}

// incremental follows the delta links of prev. It returns a *fullNeeded
// when only a full pass can go on; it has emitted nothing then.
func (p *pass) incremental(ctx context.Context, prev checkpoint) (checkpoint, error) {
	s := p.s
	next := prev
	for _, id := range prev.Nested {
		p.nested[id] = true
	}
	// Membership changes first: they emit nothing, so an expired link or a
	// change of nesting can still turn the pass into a full one.
	affected := map[string]bool{}
	var order []string
	pages, err := rawWalk(ctx, s, "following /groups/delta", getURL(prev.GroupsLink),
		func(g rawGroup) error {
			if p.byID[g.ID] == nil && !p.nested[g.ID] {
				return nil
			}
			if g.Removed != nil {
				return &fullNeeded{fmt.Sprintf("group %s, which a template or the scope uses, was deleted", g.ID)}
			}
			for _, m := range g.Members {
				switch m.Type {
				case typeGroup:
					return &fullNeeded{fmt.Sprintf("a group joined or left group %s, which a template or the scope uses", g.ID)}
				case typeUser, "":
					if m.ID != "" && !affected[m.ID] {
						affected[m.ID] = true
						order = append(order, m.ID)
					}
				}
			}
			return nil
		},
		func(delta string) { next.GroupsLink = delta })
	if err != nil {
		return next, expiredToFull(err, pages, "/groups/delta")
	}

	pages, err = rawWalk(ctx, s, "following /users/delta", getURL(prev.Users),
		func(u rawUser) error {
			if p.emitted[u.ID] {
				return nil
			}
			p.emitted[u.ID] = true
			if u.Removed != nil {
				return p.send(licensing.DirectoryUser{ID: u.ID, Removed: true})
			}
			return p.sendChanged(ctx, u)
		},
		func(delta string) { next.Users = delta })
	if err != nil {
		return next, expiredToFull(err, pages, "/users/delta")
	}

	sel := s.selectUser()
	for _, id := range order {
		if p.emitted[id] {
			continue
		}
		p.emitted[id] = true
		ri, err := s.usersBuilder().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: sel}})
		var u rawUser
		if err == nil {
			err = s.getJSON(ctx, ri, &u)
		}
		var ae *APIError
		if err = s.explain(fmt.Sprintf("reading user %s, whose groups changed", id), err); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			if err := p.send(licensing.DirectoryUser{ID: id, Removed: true}); err != nil {
				return next, err
			}
			continue
		} else if err != nil {
			return next, err
		}
		if err := p.sendChanged(ctx, u); err != nil {
			return next, err
		}
	}
	if next.Users == "" || next.GroupsLink == "" {
		return next, errors.New("graph: a delta round ended without a @odata.deltaLink")
	}
	return next, nil
}

// expiredToFull turns an expired delta link met before anything was read
// into a request for a full pass.
func expiredToFull(err error, pages int, what string) error {
	var ae *APIError
	if pages == 0 && errors.As(err, &ae) && ae.expired() {
		return &fullNeeded{fmt.Sprintf("the %s link has expired (Graph keeps delta state about 7 days; %s)", what, ae.Error())}
	}
	return err
}

// sendChanged emits a user a delta round reported, with its memberships
// read again; a user outside the scope is reported removed.
func (p *pass) sendChanged(ctx context.Context, u rawUser) error {
	id := u.ID
	gs, err := p.memberOf(ctx, id)
	if err != nil {
		return err
	}
	if p.scoped && !slices.ContainsFunc(gs, func(g *group) bool { return g.scope }) {
		return p.send(licensing.DirectoryUser{ID: id, Removed: true})
	}
	return p.send(p.s.toUser(u, gs))
}

// memberOf returns the template and scope groups user id is in,
// transitively.
func (p *pass) memberOf(ctx context.Context, id string) ([]*group, error) {
	if len(p.groups) == 0 {
		return nil, nil
	}
	s := p.s
	top := int32(s.cfg.PageSize)
	ri, err := s.usersBuilder().ByUserId(id).TransitiveMemberOf().ToGetRequestInformation(ctx,
		&users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemTransitiveMemberOfRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
	if err != nil {
		return nil, err
	}
	var gs []*group
	_, err = rawWalk(ctx, s, fmt.Sprintf("reading the groups of user %s", id), ri, func(o rawObject) error {
		if g := p.byID[o.ID]; g != nil && !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
		return nil
	})
	// Report memberships in the templates' order, as a full pass does.
	sort.SliceStable(gs, func(i, j int) bool { return slices.Index(p.groups, gs[i]) < slices.Index(p.groups, gs[j]) })
	return gs, err
}

func (p *pass) send(u licensing.DirectoryUser) error {
	if err := p.emit(u); err != nil {
		return &emitError{err}
	}
	p.s.users.Add(1)
	return nil
}

// emitError carries an error returned by emit, which Users returns as is.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// toUser maps a Graph user onto the directory user the decision reads.
func (s *Source) toUser(u rawUser, gs []*group) licensing.DirectoryUser {
	d := licensing.DirectoryUser{ID: u.ID, DisplayName: u.DisplayName, Enabled: true}
	// mail is the address Webex knows the person by; the sign-in name is a
	// fallback for accounts without a mailbox.
	d.Email = u.Mail
	if d.Email == "" {
		d.Email = u.UPN
	}
	// Graph always returns accountEnabled when selected; it can only be
	// absent from a trimmed delta record, whose account was enabled.
	if u.AccountEnabled != nil {
		d.Enabled = *u.AccountEnabled
	}
	switch a := s.cfg.Attributes.WorkPhone; strings.ToLower(a) {
	case "businessphones":
		if len(u.BusinessPhones) > 0 {
			d.WorkPhone = u.BusinessPhones[0]
		}
	case "mobilephone":
		d.WorkPhone = u.MobilePhone
	default:
		d.WorkPhone = u.extra[a]
	}
	for _, g := range gs {
		d.Groups = append(d.Groups, g.name, g.id)
	}
	return d
}

// UserByID reads one user again as a pass does: the same properties, the
// template and scope groups they are in transitively, and the scope. A user
// the tenant does not have, or outside source.graph.groups, is
// licensing.ErrUserNotFound.
func (s *Source) UserByID(ctx context.Context, id string) (licensing.DirectoryUser, error) {
	p := &pass{s: s, byID: map[string]*group{}, nested: map[string]bool{}, emitted: map[string]bool{}}
	if err := p.resolveGroups(ctx); err != nil {
		return licensing.DirectoryUser{}, err
	}
	ri, err := s.usersBuilder().ByUserId(id).ToGetRequestInformation(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: s.selectUser()}})
	var u rawUser
	if err == nil {
		err = s.getJSON(ctx, ri, &u)
	}
	var ae *APIError
	if err = s.explain(fmt.Sprintf("reading user %s", id), err); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return licensing.DirectoryUser{}, fmt.Errorf("graph: user %s: %w", id, licensing.ErrUserNotFound)
	} else if err != nil {
		return licensing.DirectoryUser{}, err
	}
	gs, err := p.memberOf(ctx, id)
	if err != nil {
		return licensing.DirectoryUser{}, err
	}
	if p.scoped && !slices.ContainsFunc(gs, func(g *group) bool { return g.scope }) {
		return licensing.DirectoryUser{}, fmt.Errorf("graph: user %s is in none of the groups of source.graph.groups: %w", id, licensing.ErrUserNotFound)
	}
	return s.toUser(u, gs), nil
}
