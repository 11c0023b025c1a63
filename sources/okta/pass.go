package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"
	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// timeLayout is how Okta writes and searches timestamps.
const timeLayout = "2006-01-02T15:04:05.000Z"

// maxSeen caps the users a checkpoint remembers from its overlap window;
// beyond it they are simply read again.
const maxSeen = 1000

// allStatuses lists users in every status: a plain listing leaves out
// DEPROVISIONED users, which must be reported as disabled.
const allStatuses = `status eq "STAGED" or status eq "PROVISIONED" or status eq "ACTIVE" or status eq "RECOVERY" or ` +
	`status eq "PASSWORD_EXPIRED" or status eq "LOCKED_OUT" or status eq "SUSPENDED" or status eq "DEPROVISIONED"`

// checkpoint is what Users returns as next, JSON-encoded.
type checkpoint struct {
	// Scope is the organisation, groups and attributes read: changing one
	// needs a full pass.
	Scope string `json:"scope"`
	// Updated is the newest lastUpdated seen, never later than the server's
	// time when the pass started.
	Updated string `json:"updated"`
	// Seen holds the users emitted whose lastUpdated falls in the overlap
	// before Updated (id to lastUpdated), so the next pass does not emit
	// them again for nothing.
	Seen map[string]string `json:"seen,omitempty"`
	// Groups holds each read group's lastMembershipUpdated, by id.
	Groups map[string]string `json:"groups,omitempty"`
}

// group is one group whose members are read: a scope group or one a
// template names.
type group struct {
	id, name       string
	scope          bool
	membersChanged string
	// size is the member count Okta reports, or -1 when it does not.
	size int
}

// pass is one read of the organisation.
type pass struct {
	s    *Source
	emit func(licensing.DirectoryUser) error

	full    bool
	prev    checkpoint
	next    checkpoint
	groups  []group
	scoped  bool
	members map[string][]int32 // user id → indexes into groups
	// lookups counts the users whose groups an incremental pass asked for
	// one by one; memberPages is what loading every member would cost.
	lookups, memberPages int
	// emitted holds the users an incremental pass emitted (a full pass
	// meets each user once and keeps no such set).
	emitted map[string]bool
	// start is the server's time when the pass began; newest the newest
	// lastUpdated seen.
	start, newest time.Time
	// overflow is set when too many users fall in the overlap window to
	// remember them.
	overflow bool
}

func (p *pass) run(ctx context.Context, since string) (string, bool, error) {
	cfg := p.s.cfg
	p.next = checkpoint{Scope: p.s.scope(), Groups: map[string]string{}, Seen: map[string]string{}}
	p.full = true
	if since != "" {
		err := json.Unmarshal([]byte(since), &p.prev)
		if err == nil {
			_, err = time.Parse(timeLayout, p.prev.Updated)
		}
		if err != nil {
			p.s.log.Warn("okta checkpoint unreadable, reading the whole organisation", zap.Error(err))
		} else {
			p.full = p.prev.Scope != p.next.Scope
		}
	}
	if p.full {
		p.prev = checkpoint{}
	} else {
		p.emitted = map[string]bool{}
	}
	if err := p.loadGroups(ctx); err != nil {
		return "", false, err
	}
	p.memberPages = p.costOfMembers()
	if p.full {
		if err := p.loadMembers(ctx); err != nil {
			return "", false, err
		}
		if p.scoped {
			for i, g := range p.groups {
				if g.scope {
					if err := p.readMembers(ctx, i); err != nil {
						return "", false, err
					}
				}
			}
		} else {
			qp := query.NewQueryParams(query.WithLimit(int64(cfg.PageSize)), query.WithSearch(allStatuses))
			if err := p.readUsers(ctx, qp); err != nil {
				return "", false, err
			}
		}
	} else {
		from, _ := time.Parse(timeLayout, p.prev.Updated)
		from = from.Add(-cfg.Overlap.D())
		search := fmt.Sprintf("lastUpdated gt %q", from.UTC().Format(timeLayout))
		qp := query.NewQueryParams(query.WithLimit(int64(cfg.PageSize)), query.WithSearch(search))
		if err := p.readUsers(ctx, qp); err != nil {
			return "", false, err
		}
		for i, g := range p.groups {
			if g.membersChanged != p.prev.Groups[g.id] {
				p.s.log.Info("okta group membership changed, reading its members", zap.String("group", g.name))
				if err := p.readMembers(ctx, i); err != nil {
					return "", false, err
				}
			}
		}
	}
	return p.checkpoint()
}

// scope identifies what the source reads.
func (s *Source) scope() string {
	norm := func(v []string) string {
		out := make([]string, len(v))
		for i, g := range v {
			out[i] = strings.ToLower(strings.TrimSpace(g))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	a := s.cfg.Attributes
	return strings.Join([]string{s.org, norm(s.cfg.Groups), norm(s.opt.TemplateGroups), a.Email, a.DisplayName, a.WorkPhone}, "\n")
}

func (p *pass) checkpoint() (string, bool, error) {
	if w := p.watermark(); !w.IsZero() {
		p.next.Updated = w.UTC().Format(timeLayout)
	}
	p.pruneSeen()
	if p.overflow {
		p.next.Seen = nil
	}
	b, err := json.Marshal(p.next)
	if err != nil {
		return "", false, fmt.Errorf("okta: checkpoint: %w", err)
	}
	return string(b), p.full, nil
}

// watermark is the checkpoint time so far: the newest lastUpdated seen (or
// the previous checkpoint), never later than the server's Date when the
// pass started, since a user changed while the pass ran may have been read
// before the change, and never earlier than that Date less the overlap:
// everything changed before then was searchable when the pass began, and
// was read. It only moves later as the pass goes on.
func (p *pass) watermark() time.Time {
	w := p.newest
	if prev, err := time.Parse(timeLayout, p.prev.Updated); err == nil && prev.After(w) {
		w = prev
	}
	if !p.start.IsZero() {
		if floor := p.start.Add(-p.s.cfg.Overlap.D()); w.Before(floor) {
			w = floor
		}
		if w.After(p.start) {
			w = p.start
		}
	}
	return w
}

// remember notes a user emitted, or skipped as already emitted, for the
// next checkpoint's overlap window.
func (p *pass) remember(id string, at *time.Time) {
	if at == nil || p.overflow {
		return
	}
	p.next.Seen[id] = stamp(at)
	if len(p.next.Seen) > 2*maxSeen {
		p.pruneSeen()
		p.overflow = len(p.next.Seen) > maxSeen
	}
}

// pruneSeen drops the users that are before the overlap window. The
// watermark only moves later, so what is dropped early would be dropped at
// the end too.
func (p *pass) pruneSeen() {
	cut := p.watermark().Add(-p.s.cfg.Overlap.D())
	for id, at := range p.next.Seen {
		if t, err := time.Parse(timeLayout, at); err != nil || !t.After(cut) {
			delete(p.next.Seen, id)
		}
	}
}

// loadGroups finds the scope and template groups among the organisation's
// groups, by name (case-insensitive) or id.
func (p *pass) loadGroups(ctx context.Context) error {
	scope := wanted(p.s.cfg.Groups)
	tmpl := wanted(p.s.opt.TemplateGroups)
	found := map[string]bool{}
	qp := query.NewQueryParams(query.WithLimit(groupPageSize), query.WithExpand("stats"))
	first := func() ([]*okta.Group, *okta.Response, error) { return p.s.client.Group.ListGroups(ctx, qp) }
	err := walk(ctx, p, "listing groups", first, func(g *okta.Group) error {
		name := ""
		if g.Profile != nil {
			name = g.Profile.Name
		}
		keys := []string{strings.ToLower(name), strings.ToLower(g.Id)}
		inScope, inTmpl := scope[keys[0]] || scope[keys[1]], tmpl[keys[0]] || tmpl[keys[1]]
		if !inScope && !inTmpl {
			return nil
		}
		for _, k := range keys {
			found[k] = true
		}
		changed := ""
		if g.LastMembershipUpdated != nil {
			changed = g.LastMembershipUpdated.UTC().Format(timeLayout)
		}
		p.groups = append(p.groups, group{id: g.Id, name: name, scope: inScope, membersChanged: changed, size: usersCount(g)})
		p.next.Groups[g.Id] = changed
		p.scoped = p.scoped || inScope
		return nil
	})
	if err != nil {
		return err
	}
	for _, g := range p.s.cfg.Groups {
		if !found[strings.ToLower(strings.TrimSpace(g))] {
			return fmt.Errorf("okta: source.okta.groups names %q, which is no group of %s (check the name or use the group's id)", g, p.s.org)
		}
	}
	for _, g := range p.s.opt.TemplateGroups {
		if !found[strings.ToLower(strings.TrimSpace(g))] {
			p.s.log.Warn("okta has no group a template names; no user matches it", zap.String("group", g))
		}
	}
	return nil
}

func wanted(v []string) map[string]bool {
	m := map[string]bool{}
	for _, g := range v {
		m[strings.ToLower(strings.TrimSpace(g))] = true
	}
	return m
}

// loadMembers reads who belongs to each group read. It keeps the user ids
// only, so its memory follows the groups' sizes.
func (p *pass) loadMembers(ctx context.Context) error {
	if p.members != nil {
		return nil
	}
	p.members = map[string][]int32{}
	for i, g := range p.groups {
		qp := query.NewQueryParams(query.WithLimit(memberPageSize))
		first := func() ([]*okta.User, *okta.Response, error) {
			return p.s.client.Group.ListGroupUsers(ctx, g.id, qp)
		}
		err := walk(ctx, p, fmt.Sprintf("reading the members of group %q", g.name), first, func(u *okta.User) error {
			p.members[u.Id] = append(p.members[u.Id], int32(i))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readUsers emits the users a listing or search returns.
func (p *pass) readUsers(ctx context.Context, qp *query.Params) error {
	first := func() ([]*okta.User, *okta.Response, error) { return p.s.client.User.ListUsers(ctx, qp) }
	return walk(ctx, p, "listing users", first, func(u *okta.User) error {
		if !p.full && p.prev.Seen[u.Id] != "" && p.prev.Seen[u.Id] == stamp(u.LastUpdated) {
			p.remember(u.Id, u.LastUpdated)
			return nil
		}
		in, err := p.groupsOf(ctx, u.Id)
		if err != nil {
			return err
		}
		if p.scoped && firstScope(p.groups, in) < 0 {
			return nil
		}
		return p.send(u, in)
	})
}

// groupsOf returns the indexes of the groups read that user id belongs to.
// An incremental pass that changed no group's membership asks Okta for the
// user's groups one user at a time, as long as that costs fewer requests
// than reading every member would; past that, and in any other pass, the
// members of every group read are loaded once.
func (p *pass) groupsOf(ctx context.Context, id string) ([]int32, error) {
	if p.members == nil && !p.full && p.lookups < p.memberPages && !p.groupsChanged() {
		p.lookups++
		return p.userGroups(ctx, id)
	}
	if err := p.loadMembers(ctx); err != nil {
		return nil, err
	}
	return p.members[id], nil
}

// userGroups asks Okta for one user's groups.
func (p *pass) userGroups(ctx context.Context, id string) ([]int32, error) {
	index := make(map[string]int32, len(p.groups))
	for i, g := range p.groups {
		index[g.id] = int32(i)
	}
	var in []int32
	first := func() ([]*okta.Group, *okta.Response, error) { return p.s.client.User.ListUserGroups(ctx, id) }
	err := walk(ctx, p, fmt.Sprintf("reading the groups of user %s", id), first, func(g *okta.Group) error {
		if i, ok := index[g.Id]; ok {
			in = append(in, i)
		}
		return nil
	})
	slices.Sort(in)
	return in, err
}

// groupsChanged reports whether the membership of a group read changed
// since the checkpoint.
func (p *pass) groupsChanged() bool {
	for _, g := range p.groups {
		if g.membersChanged != p.prev.Groups[g.id] {
			return true
		}
	}
	return false
}

// costOfMembers is how many requests reading every member of the groups
// read takes; unknown sizes count as large.
func (p *pass) costOfMembers() int {
	n := 0
	for _, g := range p.groups {
		if g.size < 0 {
			return math.MaxInt
		}
		n += (g.size + memberPageSize - 1) / memberPageSize
	}
	return n
}

// usersCount reads the member count that expand=stats adds to a group.
func usersCount(g *okta.Group) int {
	emb, _ := g.Embedded.(map[string]any)
	stats, _ := emb["stats"].(map[string]any)
	if n, ok := stats["usersCount"].(float64); ok {
		return int(n)
	}
	return -1
}

// readMembers emits the members of group i: in a full pass those for whom
// it is the first scope group they belong to, in an incremental pass the
// ones not emitted yet.
func (p *pass) readMembers(ctx context.Context, i int) error {
	if err := p.loadMembers(ctx); err != nil {
		return err
	}
	g := p.groups[i]
	qp := query.NewQueryParams(query.WithLimit(memberPageSize))
	first := func() ([]*okta.User, *okta.Response, error) {
		return p.s.client.Group.ListGroupUsers(ctx, g.id, qp)
	}
	return walk(ctx, p, fmt.Sprintf("reading the members of group %q", g.name), first, func(u *okta.User) error {
		if p.full {
			if firstScope(p.groups, p.members[u.Id]) != i {
				return nil
			}
		} else if p.emitted[u.Id] || (p.scoped && firstScope(p.groups, p.members[u.Id]) < 0) {
			return nil
		}
		return p.send(u, p.members[u.Id])
	})
}

// firstScope is the first scope group among the indexes in, or -1.
func firstScope(groups []group, in []int32) int {
	first := -1
	for _, i := range in {
		if groups[i].scope && (first < 0 || int(i) < first) {
			first = int(i)
		}
	}
	return first
}

func (p *pass) send(u *okta.User, in []int32) error {
	if !p.full {
		if p.emitted[u.Id] {
			return nil
		}
		p.emitted[u.Id] = true
	}
	if u.LastUpdated != nil && u.LastUpdated.After(p.newest) {
		p.newest = *u.LastUpdated
	}
	p.remember(u.Id, u.LastUpdated)
	if err := p.emit(p.s.toUser(u, p.groups, in)); err != nil {
		return &emitError{err}
	}
	p.s.users.Add(1)
	return nil
}

func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// walk calls fn for every item of a paged listing, page by page, following
// the Link rel="next" headers.
func walk[T any](ctx context.Context, p *pass, what string, first func() ([]T, *okta.Response, error), fn func(T) error) error {
	items, resp, err := first()
	for n := 1; ; n++ {
		if err != nil {
			return p.s.apiError(ctx, what, n, resp, err)
		}
		p.s.pages.Add(1)
		if p.start.IsZero() && resp != nil && resp.Response != nil {
			if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
				p.start = d
			}
		}
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		if resp == nil || !resp.HasNextPage() {
			return nil
		}
		var page []T
		resp, err = resp.Next(ctx, &page)
		items = page
	}
}

// emitError carries an error returned by emit, which Users returns as is.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// UserByID reads one user again as a pass does: the same profile mapping
// and status, and the scope and template groups they belong to. A user the
// organisation does not have, or outside source.okta.groups, is
// licensing.ErrUserNotFound.
func (s *Source) UserByID(ctx context.Context, id string) (licensing.DirectoryUser, error) {
	p := &pass{s: s, next: checkpoint{Groups: map[string]string{}}}
	if err := p.loadGroups(ctx); err != nil {
		return licensing.DirectoryUser{}, err
	}
	u, resp, err := s.client.User.GetUser(ctx, url.PathEscape(id))
	var oe *okta.Error
	switch {
	case err != nil && errors.As(err, &oe) && oe.ErrorCode == codeNotFound:
		return licensing.DirectoryUser{}, fmt.Errorf("okta: %s: user %s: %w", s.org, id, licensing.ErrUserNotFound)
	case err != nil:
		return licensing.DirectoryUser{}, s.apiError(ctx, "reading user "+id, 1, resp, err)
	case u.Id != id:
		// Okta also finds a user by login: that is another user's record.
		return licensing.DirectoryUser{}, fmt.Errorf("okta: %s: user %s: %w", s.org, id, licensing.ErrUserNotFound)
	}
	in, err := p.userGroups(ctx, id)
	if err != nil {
		return licensing.DirectoryUser{}, err
	}
	if p.scoped && firstScope(p.groups, in) < 0 {
		return licensing.DirectoryUser{}, fmt.Errorf("okta: %s: user %s is in none of the groups of source.okta.groups: %w", s.org, id, licensing.ErrUserNotFound)
	}
	return s.toUser(u, p.groups, in), nil
}
