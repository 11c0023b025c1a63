package ldap

import (
	"context"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// graph is the group membership graph of one pass, keyed by normalised DN.
type graph struct {
	// parents maps an entry to the groups it is a direct member of.
	parents map[string][]string
	// members maps a group to its direct member values (OpenLDAP only).
	members map[string][]string
	// changed lists the groups modified since the checkpoint.
	changed []string
	// groups holds every group read; keys the key of each group's DN as
	// the server wrote it, which users' memberOf values repeat, so that a
	// user's groups are looked up without normalising each value again.
	groups map[string]bool
	keys   map[string]string
}

// loadGroups reads the group graph under the group search base: groups
// often live beside the users' OU, not in it, and a nested group left out
// would hide the template group above it. On OpenLDAP a server that keeps memberOf
// (the memberof overlay) gives the groupOfNames edges from memberOf, so the
// member values, which make up most of a large group's entry, are not read;
// uniqueMember, which the overlay does not track, always is.
func (p *pass) loadGroups(ctx context.Context) error {
	g := &graph{parents: map[string][]string{}, members: map[string][]string{}, groups: map[string]bool{}, keys: map[string]string{}}
	filter := "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
	attrs := []string{"memberOf", "member", "uniqueMember", "modifyTimestamp", "entryCSN"}
	if p.memberOf {
		attrs = []string{"memberOf", "uniqueMember", "modifyTimestamp", "entryCSN"}
	}
	if p.s.cfg.Dialect == DialectAD {
		// member is left out: on AD it needs range retrieval for large groups,
		// and memberOf on the groups gives the same graph.
		filter = "(objectClass=group)"
		attrs = []string{"memberOf", "uSNChanged"}
	}
	p.found = make([]bool, len(p.s.templates))
	err := p.s.search(ctx, p.groupBase, goldap.ScopeWholeSubtree, filter, attrs, func(e *goldap.Entry) error {
		key := normDN(e.DN)
		g.groups[key] = true
		g.keys[e.DN] = key
		p.s.findTemplates(e.DN, p.found)
		parents := e.GetAttributeValues("memberOf")
		g.parents[key] = append(g.parents[key], parents...)
		if p.memberOf {
			// The reverse edges, for the descendants of a changed group.
			for _, parent := range parents {
				pk := normDN(parent)
				g.members[pk] = append(g.members[pk], e.DN)
			}
		}
		for _, m := range append(e.GetAttributeValues("member"), e.GetAttributeValues("uniqueMember")...) {
			g.members[key] = append(g.members[key], m)
			mk := normDN(m)
			g.parents[mk] = append(g.parents[mk], e.DN)
		}
		if p.changed(e) && !p.full {
			g.changed = append(g.changed, e.DN)
		}
		return nil
	})
	p.graph = g
	return err
}

// TemplateGroups names the groups the templates cover, as the templates
// name them (a DN or a group's name), so that a pass warns when one is not
// among the groups it reads: its members would all be OUT_OF_SCOPE without
// a word.
func TemplateGroups(names ...string) Option {
	return func(s *Source) {
		for _, n := range names {
			s.templates = append(s.templates, licensing.Template{Name: n, Groups: []string{n}})
		}
	}
}

// findTemplates marks in found the template groups that the group dn is,
// by the rule templates match users' groups with.
func (s *Source) findTemplates(dn string, found []bool) {
	u := licensing.DirectoryUser{Groups: []string{dn}}
	for i := range s.templates {
		if !found[i] && s.templates[i].Covers(&u) {
			found[i] = true
		}
	}
}

// warnMissing warns about each template group a pass did not find under
// base, once until a pass finds it again.
func (s *Source) warnMissing(found []bool, base string) {
	for i, t := range s.templates {
		if found[i] {
			delete(s.missing, t.Name)
			continue
		}
		if s.missing[t.Name] {
			continue
		}
		s.missing[t.Name] = true
		s.log.Warn("ldap: a template group is not among the groups read, so no user matches it (check the template's groups, and group_base_dn)",
			zap.String("group", t.Name), zap.String("group_base_dn", base))
	}
}

// closure returns the groups reachable from direct through nesting,
// direct ones first, each once; cycles end where they meet a seen group.
func (g *graph) closure(direct []string) []string {
	return g.walk(direct, nil, g.parents)
}

// descendants returns the member DNs reachable from group through nesting,
// groups included, each once.
func (g *graph) descendants(group string) []string {
	return g.walk(g.members[normDN(group)], []string{group}, g.members)
}

// key is normDN(dn), looked up for the DN of a group read.
func (g *graph) key(dn string) string {
	if k, ok := g.keys[dn]; ok {
		return k
	}
	return normDN(dn)
}

// walk visits breadth-first from start along edges (keyed by normalised
// DN), each DN once, never entering skip, and returns what it visited. A
// user is in a few groups: what it saw is a list until it is long.
func (g *graph) walk(start, skip []string, edges map[string][]string) []string {
	const listed = 16
	var (
		seen  []string
		index map[string]bool
	)
	visit := func(k string) bool {
		if index != nil {
			if index[k] {
				return false
			}
			index[k] = true
			return true
		}
		for _, s := range seen {
			if s == k {
				return false
			}
		}
		seen = append(seen, k)
		if len(seen) > listed {
			index = make(map[string]bool, 2*len(seen))
			for _, s := range seen {
				index[s] = true
			}
		}
		return true
	}
	for _, dn := range skip {
		visit(g.key(dn))
	}
	var out []string
	queue := append([]string(nil), start...)
	for len(queue) > 0 {
		dn := queue[0]
		queue = queue[1:]
		k := g.key(dn)
		if !visit(k) {
			continue
		}
		out = append(out, dn)
		queue = append(queue, edges[k]...)
	}
	return out
}

// normDN gives DNs that differ only in case or spacing the same key. It is
// called for every user and every group value of a pass, so a DN that
// needs no parsing (no escapes, quotes, multi-valued RDNs or spaces around
// the separators, as servers return them) is only lower-cased.
func normDN(dn string) string {
	if plainDN(dn) {
		return strings.ToLower(dn)
	}
	return parsedNormDN(dn)
}

// parsedNormDN is normDN through the DN parser, for any DN.
func parsedNormDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	rdns := make([]string, len(parsed.RDNs))
	for i, r := range parsed.RDNs {
		parts := make([]string, len(r.Attributes))
		for j, a := range r.Attributes {
			parts[j] = strings.ToLower(a.Type) + "=" + strings.ToLower(a.Value)
		}
		rdns[i] = strings.Join(parts, "+")
	}
	return strings.Join(rdns, ",")
}

// plainDN reports whether dn is attribute=value pairs joined by commas
// whose parsed, lower-cased form is dn lower-cased: each RDN holds one '='
// after a non-empty type, and no byte needs unescaping or trimming.
func plainDN(dn string) bool {
	rdnStart, eq := 0, -1
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '=':
			if eq >= 0 || i == rdnStart {
				return false
			}
			eq = i
		case c == ',':
			if eq < 0 || i == len(dn)-1 {
				return false
			}
			rdnStart, eq = i+1, -1
		case c == ' ':
			if i == 0 || i == len(dn)-1 {
				return false
			}
			if p, n := dn[i-1], dn[i+1]; p == ' ' || p == ',' || p == '=' || n == ' ' || n == ',' || n == '=' {
				return false
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return eq >= 0
}
