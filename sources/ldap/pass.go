package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// checkpoint is what Users returns as next, JSON-encoded.
type checkpoint struct {
	Dialect string `json:"dialect"`
	// Scope is the base DNs and filter: changing one needs a full pass.
	Scope string `json:"scope"`
	// Server identifies the AD domain controller whose USNs these are.
	Server string `json:"server,omitempty"`
	USN    int64  `json:"usn,omitempty"`
	// Modified and CSN are the newest modifyTimestamp and entryCSN seen.
	Modified string `json:"modified,omitempty"`
	CSN      string `json:"csn,omitempty"`
	// GroupCookie is AD's DirSync cookie over the groups.
	GroupCookie []byte `json:"group_cookie,omitempty"`
	// Contexts are OpenLDAP's contextCSN values, one per server of a
	// replicated database, read before the pass, when users and groups
	// live in that one database.
	Contexts []string `json:"contexts,omitempty"`
}

// pass is one read of the directory.
type pass struct {
	s       *Source
	emit    func(licensing.DirectoryUser) error
	emitted map[string]bool
	graph   *graph
	prev    checkpoint
	next    checkpoint
	full    bool
	// watermark is OpenLDAP's newest contextCSN read before the pass, if
	// shown, and contexts all its values when they cover the groups too.
	watermark string
	contexts  []string
	// nc is the AD domain naming context holding base_dn, and removed the
	// member values DirSync reports removed from its groups.
	nc      string
	removed []string
	// groupBase is where groups are read: group_base_dn, else the naming
	// context holding base_dn.
	groupBase string
	// found says which of the source's template groups the pass read.
	found []bool
	// memberOf says the OpenLDAP server keeps memberOf on the users.
	memberOf bool
}

func (p *pass) run(ctx context.Context, since string) (string, bool, error) {
	cfg := p.s.cfg
	dse, err := p.s.entry("", "(objectClass=*)", []string{"namingContexts", "defaultNamingContext", "highestCommittedUSN", "dsServiceName", "serverName"})
	if err != nil {
		return "", false, err
	}
	if dse == nil {
		dse = &goldap.Entry{}
	}
	p.groupBase = or(cfg.GroupBaseDN, or(namingContext(dse, cfg.BaseDN), cfg.BaseDN))
	p.next = checkpoint{Dialect: cfg.Dialect, Scope: cfg.BaseDN + "\n" + p.groupBase + "\n" + cfg.Filter}
	p.full = true
	if since != "" {
		if err := json.Unmarshal([]byte(since), &p.prev); err != nil {
			p.s.log.Warn("ldap checkpoint unreadable, reading the whole directory", zap.Error(err))
		} else {
			p.full = p.prev.Dialect != p.next.Dialect || p.prev.Scope != p.next.Scope
		}
	}
	if cfg.Dialect == DialectAD {
		if err := p.readRootDSE(dse); err != nil {
			return "", false, err
		}
		// USNs compare only on one DC; one ahead of the DC's own is from a
		// database restored without a new invocationId.
		if p.next.USN == 0 || p.prev.USN == 0 || p.next.Server != p.prev.Server || p.prev.USN > p.next.USN {
			p.full = true
		}
	} else {
		if p.watermark, p.contexts, err = p.contextCSN(dse); err != nil {
			return "", false, err
		}
		// Every write to the database moves one of its contextCSN values:
		// when none moved since the last pass, nothing changed, and the
		// pass reads nothing more.
		if !p.full && len(p.contexts) > 0 && slices.Equal(p.contexts, p.prev.Contexts) {
			return since, false, nil
		}
		if p.memberOf, err = p.keepsMemberOf(); err != nil {
			return "", false, err
		}
		if p.prev.Modified == "" {
			p.full = true
		}
	}
	if p.full {
		p.prev = checkpoint{}
	}
	p.next.Modified, p.next.CSN = p.prev.Modified, p.prev.CSN
	if err := p.groupChanges(ctx); err != nil {
		return "", false, err
	}
	if err := p.loadGroups(ctx); err != nil {
		return "", false, err
	}
	p.s.warnMissing(p.found, p.groupBase)
	filter := cfg.Filter
	if !p.full {
		if cfg.Dialect == DialectAD {
			filter = fmt.Sprintf("(&%s(uSNChanged>=%d))", filter, p.prev.USN+1)
		} else if p.prev.CSN != "" {
			// entryCSN is finer than modifyTimestamp's whole seconds: the
			// server returns only what changed, not the rest of that second.
			filter = fmt.Sprintf("(&%s(entryCSN>=%s))", filter, goldap.EscapeFilter(p.prev.CSN))
		} else {
			filter = fmt.Sprintf("(&%s(modifyTimestamp>=%s))", filter, goldap.EscapeFilter(p.prev.Modified))
		}
	}
	if err := p.s.pagedSearch(ctx, cfg.BaseDN, filter, p.userAttrs(), p.user); err != nil {
		return "", false, err
	}
	if !p.full {
		if err := p.changedGroupMembers(ctx); err != nil {
			return "", false, err
		}
		if err := p.removedMembers(ctx); err != nil {
			return "", false, err
		}
		if err := p.deletedUsers(ctx); err != nil {
			return "", false, err
		}
	}
	if p.watermark != "" {
		p.next.CSN, p.next.Modified = p.watermark, csnTime(p.watermark)
		p.next.Contexts = p.contexts
	}
	next, err := json.Marshal(p.next)
	if err != nil {
		return "", false, fmt.Errorf("ldap: checkpoint: %w", err)
	}
	return string(next), p.full, nil
}

// readRootDSE reads from the rootDSE dse the AD USN watermark before the
// pass, and which domain controller it belongs to.
func (p *pass) readRootDSE(dse *goldap.Entry) error {
	if nc := dse.GetAttributeValue("defaultNamingContext"); nc != "" && under(p.s.cfg.BaseDN, nc) {
		p.nc = nc
	}
	p.next.USN, _ = strconv.ParseInt(dse.GetAttributeValue("highestCommittedUSN"), 10, 64)
	service := dse.GetAttributeValue("dsServiceName")
	p.next.Server = or(service, dse.GetAttributeValue("serverName"))
	if service == "" {
		return nil
	}
	ntds, err := p.s.entry(service, "(objectClass=*)", []string{"invocationId"})
	if err != nil {
		p.s.log.Info("ldap: invocationId unreadable, keying the checkpoint on dsServiceName", zap.Error(err))
		return nil
	}
	if ntds == nil {
		return nil
	}
	if raw := ntds.GetRawAttributeValue("invocationId"); len(raw) > 0 {
		p.next.Server = guidString(raw)
	}
	return nil
}

// contextCSN reads the newest change of the database holding base_dn,
// before the pass: a change made while the pass runs is newer, so the next
// pass reads it again instead of missing it behind a newer entry read later.
// It returns "" when the server does not show one; the checkpoint is then
// the newest change the pass saw. all holds every value, sorted, when the
// groups are read from the same database (a write to another one does not
// move these), nil otherwise.
func (p *pass) contextCSN(dse *goldap.Entry) (newest string, all []string, err error) {
	suffix := namingContext(dse, p.s.cfg.BaseDN)
	if suffix == "" {
		return "", nil, nil
	}
	db, err := p.s.entry(suffix, "(objectClass=*)", []string{"contextCSN"})
	if err != nil || db == nil {
		return "", nil, err
	}
	for _, csn := range db.GetAttributeValues("contextCSN") {
		newest = max(newest, csn)
		all = append(all, csn)
	}
	if newest == "" || !under(p.groupBase, suffix) || namingContext(dse, p.groupBase) != suffix {
		return newest, nil, nil
	}
	slices.Sort(all)
	return newest, all, nil
}

// namingContext returns the naming context, of those the rootDSE dse
// shows, that holds base: the deepest one above it, or "" if none does.
func namingContext(dse *goldap.Entry, base string) string {
	best := ""
	for _, nc := range append(dse.GetAttributeValues("namingContexts"), dse.GetAttributeValue("defaultNamingContext")) {
		if nc != "" && under(base, nc) && len(normDN(nc)) > len(normDN(best)) {
			best = nc
		}
	}
	return best
}

// keepsMemberOf tells whether users under base_dn carry memberOf, as the
// memberof overlay keeps it.
func (p *pass) keepsMemberOf() (bool, error) {
	cfg := p.s.cfg
	conn, u := p.s.current()
	req := goldap.NewSearchRequest(cfg.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 1, int(cfg.Timeout.D()/time.Second), false,
		fmt.Sprintf("(&%s(memberOf=*))", cfg.Filter), []string{"1.1"}, nil)
	res, err := conn.Search(req)
	if res != nil && len(res.Entries) > 0 {
		return true, nil
	}
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return false, searchError(u, cfg.BaseDN, 1, err)
	}
	return false, nil
}

// csnTime is the generalized time, to the second, of an entryCSN such as
// 20261202135000.123456Z#000000#000#000000.
func csnTime(csn string) string {
	if t, _, ok := strings.Cut(csn, "."); ok {
		return t + "Z"
	}
	t, _, _ := strings.Cut(csn, "#")
	return t
}

// changed reports whether an entry changed after the previous checkpoint and
// moves the next checkpoint past it.
func (p *pass) changed(e *goldap.Entry) bool {
	if p.s.cfg.Dialect == DialectAD {
		usn, _ := strconv.ParseInt(e.GetAttributeValue("uSNChanged"), 10, 64)
		return usn > p.prev.USN
	}
	ts, csn := e.GetAttributeValue("modifyTimestamp"), e.GetAttributeValue("entryCSN")
	if ts > p.next.Modified {
		p.next.Modified = ts
	}
	if csn > p.next.CSN {
		p.next.CSN = csn
	}
	if p.prev.Modified == "" {
		return true
	}
	if csn != "" && p.prev.CSN != "" {
		return csn > p.prev.CSN
	}
	return ts >= p.prev.Modified
}

// userAttrs names what a user search returns: decoding is most of a pass's
// cost, so each dialect asks only for what it reads.
func (p *pass) userAttrs() []string {
	a := p.s.cfg.Attributes
	attrs := []string{a.ID, a.Email, a.DisplayName, a.WorkPhone, "cn", "memberOf", "userAccountControl"}
	if p.s.cfg.Dialect == DialectAD {
		return append(attrs, "userPrincipalName", "uSNChanged")
	}
	return append(attrs, "pwdAccountLockedTime", "modifyTimestamp", "entryCSN")
}

// user emits the user entry e if it changed since the checkpoint.
func (p *pass) user(e *goldap.Entry) error {
	if !p.changed(e) && !p.full {
		return nil
	}
	return p.send(e)
}

// reread emits a user found through a changed group, whether or not its own
// entry changed.
func (p *pass) reread(e *goldap.Entry) error {
	p.changed(e)
	return p.send(e)
}

// send emits e unless this incremental pass emitted it already (a full pass
// meets each user once, and keeps no set of them).
func (p *pass) send(e *goldap.Entry) error {
	if !p.full {
		key := normDN(e.DN)
		if p.emitted[key] {
			return nil
		}
		p.emitted[key] = true
	}
	if err := p.emit(p.s.toUser(e, p.graph)); err != nil {
		return &emitError{err}
	}
	p.s.stats.Users++
	return nil
}

// changedGroupMembers re-reads the users of the groups that changed since
// the checkpoint, nested members included, so that a user added to a group
// is emitted although the user entry itself did not change.
func (p *pass) changedGroupMembers(ctx context.Context) error {
	cfg := p.s.cfg
	searched := map[string]bool{}
	for _, g := range p.graph.changed {
		if cfg.Dialect == DialectAD {
			filter := fmt.Sprintf("(&%s(memberOf:1.2.840.113556.1.4.1941:=%s))", cfg.Filter, goldap.EscapeFilter(g))
			if err := p.s.search(ctx, cfg.BaseDN, goldap.ScopeWholeSubtree, filter, p.userAttrs(), p.reread); err != nil {
				return err
			}
			continue
		}
		dns := p.graph.descendants(g)
		if p.memberOf {
			dns = append([]string{g}, dns...)
		}
		for _, dn := range dns {
			k := normDN(dn)
			if p.emitted[k] || searched[k] {
				continue
			}
			if p.memberOf && p.graph.groups[k] {
				searched[k] = true
				// Its groupOfNames members were not read: ask for them.
				filter := fmt.Sprintf("(&%s(memberOf=%s))", cfg.Filter, goldap.EscapeFilter(dn))
				if err := p.s.search(ctx, cfg.BaseDN, goldap.ScopeWholeSubtree, filter, p.userAttrs(), p.reread); err != nil {
					return err
				}
				continue
			}
			e, err := p.s.entry(dn, cfg.Filter, p.userAttrs())
			if err != nil {
				return err
			}
			if e != nil {
				if err := p.reread(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
