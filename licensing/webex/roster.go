package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// listPage is the page of people asked for when listing them without
// Calling data (with it, the API serves at most 100 a page).
const listPage = 1000

// roster is how one pass finds people. Looking each user up costs one
// request per user: a nightly full pass over 100,000 users would spend
// hours on look-ups at the service's rate. Listing every person costs one
// request per thousand, but without Calling data; the Calling number and
// location then come from the number inventory the snapshot read, where
// each number names the person who owns it.
type roster struct {
	// owned maps a person id to the number the inventory says they own.
	owned map[string]ownedNumber
	// people is the organisation's size as far as the snapshot tells: at
	// least as many people as own a number, and as hold the most-held
	// licence.
	people int
	// list is set when the pass looks up more users than listing costs;
	// budget is then the most pages the listing may take before looking the
	// users up one by one is cheaper after all.
	list   bool
	budget int

	once   sync.Once
	listed map[string]listedPerson
	err    error
}

// ownedNumber is a person's number in the inventory; several is set when
// the inventory names more than one number for them (alternate numbers),
// which leaves the Calling one to a look-up with Calling data.
type ownedNumber struct {
	e164, location string
	several        bool
}

// listedPerson is what the listing keeps of a person: what the decision
// needs, and no more, since the listing holds the whole organisation for
// the pass.
type listedPerson struct {
	id, email, name string
	licences        []string
}

// startRoster begins a pass: people are looked up one by one until the
// pass says it will look up more than listing costs.
func (c *Client) startRoster(org *licensing.Org) {
	r := &roster{owned: map[string]ownedNumber{}}
	for n := range org.Numbers.All() {
		if n.OwnerType != licensing.OwnerPeople || n.OwnerID == "" {
			continue
		}
		if o, ok := r.owned[n.OwnerID]; ok {
			o.several = true
			r.owned[n.OwnerID] = o
			continue
		}
		r.owned[n.OwnerID] = ownedNumber{e164: n.E164, location: n.LocationID}
	}
	r.people = len(r.owned)
	for _, l := range org.Licences {
		r.people = max(r.people, l.ConsumedUnits)
	}
	c.mu.Lock()
	c.roster = r
	c.mu.Unlock()
}

// ExpectLookups is told by a pass, after its snapshot and before its first
// People call, how many users it will look up. When that is more than
// listing the organisation's people costs (a request per thousand people),
// People lists them once and answers from the listing; otherwise each user
// is looked up. Should the listing run longer than n pages (the snapshot
// undercounted the people), it is dropped for the look-ups.
func (c *Client) ExpectLookups(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.roster
	if r == nil {
		return
	}
	pages := r.people/listPage + 1
	r.list, r.budget = n > pages, n
	c.log.Debug("webex: finding people", zap.Int("lookups", n), zap.Int("listPages", pages), zap.Bool("list", r.list))
}

// fromRoster answers People from the listing when the pass chose it; ok is
// false when the users are to be looked up one by one.
func (c *Client) fromRoster(ctx context.Context, emails []string) (found map[string]licensing.Person, ok bool, err error) {
	c.mu.Lock()
	r := c.roster
	list := r != nil && r.list
	c.mu.Unlock()
	if !list {
		return nil, false, nil
	}
	r.once.Do(func() { r.listed, r.err = c.listPeople(ctx, r.budget) })
	switch {
	case errors.Is(r.err, ErrTokenRejected) || ctx.Err() != nil:
		return nil, true, r.err
	case r.err != nil:
		// Too long, or failing after its retries: each user is looked up
		// instead, and only a look-up that fails fails its user.
		return nil, false, nil
	}
	found = make(map[string]licensing.Person, len(emails))
	// A Calling user whose number the inventory does not tell is read with
	// Calling data: a number only an extension, or several numbers.
	var unsure []string
	for _, e := range emails {
		email := strings.ToLower(strings.TrimSpace(e))
		lp, ok := r.listed[email]
		if !ok {
			continue
		}
		p := licensing.Person{ID: lp.id, Email: lp.email, DisplayName: lp.name, Licences: lp.licences}
		if c.holdsCalling(lp.licences) {
			if o, ok := r.owned[lp.id]; ok && !o.several {
				p.PhoneNumber, p.LocationID = o.e164, o.location
			} else {
				unsure = append(unsure, email)
			}
		}
		found[email] = p
	}
	// The ids are taken before the reads start: found changes under them.
	ids := make([]string, len(unsure))
	for i, email := range unsure {
		ids[i] = found[email].ID
	}
	failed := licensing.LookupErrors{}
	var mu sync.Mutex
	err = c.each(ctx, len(unsure), func(ctx context.Context, i int) error {
		p, err := c.person(ctx, ids[i])
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, ErrTokenRejected) || ctx.Err() != nil:
			return err
		case err != nil:
			failed[unsure[i]] = err
			delete(found, unsure[i])
		default:
			found[unsure[i]] = p
		}
		return nil
	})
	if err != nil {
		return nil, true, err
	}
	if len(failed) > 0 {
		return found, true, failed
	}
	return found, true, nil
}

// holdsCalling reports whether any of the licence ids is a Calling licence.
func (c *Client) holdsCalling(ids []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.licences[id].IsCalling() {
			return true
		}
	}
	return false
}

// listPeople reads every person of the organisation, a thousand a page,
// keyed by lower-case email, reading at most budget pages.
func (c *Client) listPeople(ctx context.Context, budget int) (map[string]listedPerson, error) {
	// Licence ids repeat across people: one copy of each serves them all.
	c.mu.Lock()
	ids := make(map[string]string, len(c.licences))
	for id := range c.licences {
		ids[id] = id
	}
	c.mu.Unlock()
	out := map[string]listedPerson{}
	q := url.Values{"max": {fmt.Sprint(listPage)}}
	err := c.pagesUpTo(ctx, "list people", c.url("/people", q), "items", budget, func(raw json.RawMessage) error {
		var p struct {
			ID          string   `json:"id"`
			Emails      []string `json:"emails"`
			DisplayName string   `json:"displayName"`
			Licenses    []string `json:"licenses"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		if len(p.Emails) == 0 {
			return nil
		}
		for i, id := range p.Licenses {
			if s, ok := ids[id]; ok {
				p.Licenses[i] = s
			}
		}
		lp := listedPerson{id: p.ID, email: p.Emails[0], name: p.DisplayName, licences: p.Licenses}
		for _, e := range p.Emails {
			out[strings.ToLower(e)] = lp
		}
		return nil
	})
	switch {
	case errors.Is(err, errTooManyPages):
		c.log.Info("webex: the people listing runs longer than looking the users up; looking them up", zap.Int("pages", budget))
	case err != nil && !errors.Is(err, ErrTokenRejected) && ctx.Err() == nil:
		c.log.Warn("webex: listing the people failed; looking the users up instead", zap.String("why", err.Error()))
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
