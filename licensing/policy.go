package licensing

import (
	"fmt"
	"strings"
)

// LicenceRef names a licence in a template: by id, or by name within a
// subscription (names are what administrators see in Control Hub).
type LicenceRef struct {
	ID           string
	Name         string
	Subscription string
}

func (r LicenceRef) String() string {
	if r.ID != "" {
		return r.ID
	}
	if r.Subscription != "" {
		return fmt.Sprintf("%s [%s]", r.Name, r.Subscription)
	}
	return r.Name
}

// Template is a calling licence template: who it covers and what it adds.
type Template struct {
	Name string
	// Groups the template covers; empty means the whole organisation.
	Groups   []string
	Licences []LicenceRef
	// ReplaceExisting is preserve_existing: false. The licences a user
	// holds in the categories the template carries, and the template does
	// not, are removed in the same request that adds the template's. The
	// zero value preserves, so a template built in code never removes.
	ReplaceExisting bool
}

// Covers reports whether u belongs to one of the template's groups. Group
// names compare case-insensitively with the user's group names, ids, DNs, or
// the first RDN value of a DN (so "Calling Users" matches
// "CN=Calling Users,OU=Groups,DC=corp,DC=example").
func (t *Template) Covers(u *DirectoryUser) bool {
	if len(t.Groups) == 0 {
		return true
	}
	for _, g := range u.Groups {
		for _, want := range t.Groups {
			if strings.EqualFold(g, want) || strings.EqualFold(rdnValue(g), want) {
				return true
			}
		}
	}
	return false
}

// rdnValue returns the value of a DN's first RDN ("Calling Users" for
// "CN=Calling Users,OU=..."), or "" when s is not a DN.
func rdnValue(s string) string {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return ""
	}
	rest := s[eq+1:]
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\\' && i+1 < len(rest):
			i++
			b.WriteByte(rest[i])
		case c == ',' || c == '+':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// DefaultConsumerDomains are public mail domains an organisation cannot
// claim, so users with such an address cannot be licensed in it.
var DefaultConsumerDomains = []string{
	"gmail.com", "googlemail.com", "yahoo.*", "ymail.com", "icloud.com", "me.com", "mac.com",
	"hotmail.*", "outlook.com", "live.com", "msn.com", "aol.com", "gmx.*", "web.de",
	"mail.com", "protonmail.com", "proton.me", "yandex.*", "qq.com", "163.com",
}

// Policy holds everything the decision needs besides the user and the org.
type Policy struct {
	// Templates in config order: the first that covers a user wins.
	Templates []Template
	// ConsumerDomains are matched case-insensitively; "yahoo.*" matches any
	// top-level domain after "yahoo.".
	ConsumerDomains []string
	// DefaultRegion lets national numbers (no '+') parse; empty is strict E.164.
	DefaultRegion string
	// Removals guards every change that takes a licence away.
	Removals Removals
	// Inventory, when set, reports whether a number is in the calling
	// number inventory. A work phone already written in strict E.164 and
	// found there is taken as valid without parsing it: the inventory holds
	// only valid numbers in that form, so the parse could only agree, and
	// skipping it halves the cost of a pass. It must be safe to call from
	// many goroutines.
	Inventory func(e164 string) bool
}

// IsConsumer reports whether email's domain is a public mail domain.
func (p *Policy) IsConsumer(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(strings.TrimSpace(email[at+1:]))
	for _, d := range p.ConsumerDomains {
		d = strings.ToLower(d)
		if stem, ok := strings.CutSuffix(d, ".*"); ok {
			if strings.HasPrefix(domain, stem+".") {
				return true
			}
		} else if domain == d {
			return true
		}
	}
	return false
}

// Screened is a user after the checks that need nothing but the user and the
// policy. It is what a pass keeps between reading and deciding.
type Screened struct {
	User DirectoryUser
	// Early is the decision when a user-only check already decided.
	Early *Decision
	// E164 is the normalised phone; set when Early is nil.
	E164 string
	// Template is the index of the covering template in Policy.Templates.
	Template int
}

// Screen runs the checks that need only the directory user: unreadable
// record, disabled, consumer domain, template scope, empty phone, E.164. An
// unreadable record comes first because none of its other values can be
// trusted, not even the enabled flag. It is safe to call from many
// goroutines.
func (p *Policy) Screen(u DirectoryUser) Screened {
	s := Screened{User: u, Template: -1}
	early := func(o Outcome, c Cause, detail string) Screened {
		s.Early = &Decision{Outcome: o, Cause: c, Detail: detail}
		return s
	}
	if u.Unreadable != "" {
		return early(Failed, CauseUnreadableRecord, u.Unreadable)
	}
	if !u.Enabled {
		return early(Skipped, CauseDisabled, "the directory account is disabled")
	}
	if p.IsConsumer(u.Email) {
		return early(Skipped, CauseConsumerDomain, fmt.Sprintf("%s is a public mail domain the organisation cannot manage", strings.ToLower(u.Email[strings.LastIndexByte(u.Email, '@')+1:])))
	}
	for i := range p.Templates {
		if p.Templates[i].Covers(&u) {
			s.Template = i
			break
		}
	}
	if s.Template < 0 {
		return early(Skipped, CauseOutOfScope, "no template covers the user's groups")
	}
	tmpl := p.Templates[s.Template].Name
	if strings.TrimSpace(u.WorkPhone) == "" {
		s = early(Failed, CauseNoWorkPhone, "the work phone field is empty")
		s.Early.Template = tmpl
		return s
	}
	if p.Inventory != nil && strictE164(u.WorkPhone) && p.Inventory(u.WorkPhone) {
		s.E164 = u.WorkPhone
		return s
	}
	e164, err := NormalisePhone(u.WorkPhone, p.DefaultRegion)
	if err != nil {
		s = early(Failed, CauseInvalidE164, err.(*PhoneError).Reason)
		s.Early.Template = tmpl
		return s
	}
	s.E164 = e164
	return s
}

// ResolveLicences maps a template's licence references to the org's
// licences. It fails with a LICENCE_UNAVAILABLE detail when a reference
// matches nothing.
func ResolveLicences(t *Template, org *Org) ([]Licence, string) {
	out := make([]Licence, 0, len(t.Licences))
	for _, ref := range t.Licences {
		l, ok := findLicence(ref, org)
		if !ok {
			return nil, fmt.Sprintf("template %q: the organisation has no licence %s", t.Name, ref)
		}
		out = append(out, l)
	}
	return out, ""
}

func findLicence(ref LicenceRef, org *Org) (Licence, bool) {
	if ref.ID != "" {
		l, ok := org.Licences[ref.ID]
		return l, ok
	}
	var best Licence
	found := false
	for _, l := range org.Licences {
		if !strings.EqualFold(l.Name, ref.Name) {
			continue
		}
		if ref.Subscription != "" && !strings.EqualFold(l.SubscriptionID, ref.Subscription) {
			continue
		}
		// Several subscriptions can carry the same name: take the lowest id
		// so the choice does not depend on map order.
		if !found || l.ID < best.ID {
			best, found = l, true
		}
	}
	return best, found
}
