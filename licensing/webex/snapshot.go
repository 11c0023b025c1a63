package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

// numbersPage is the largest page the numbers API serves.
const numbersPage = 2000

type licenceJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	TotalUnits     int    `json:"totalUnits"`
	ConsumedUnits  int    `json:"consumedUnits"`
	SubscriptionID string `json:"subscriptionId"`
	Status         string `json:"status"`
}

type locationJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type numberJSON struct {
	PhoneNumber string       `json:"phoneNumber"`
	Extension   string       `json:"extension"`
	State       string       `json:"state"`
	Location    locationJSON `json:"location"`
	Owner       *struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"owner"`
}

// Snapshot loads the licences, the calling locations and the number
// inventory. The licences are kept to tell Calling licences apart in Apply.
func (c *Client) Snapshot(ctx context.Context) (*licensing.Org, error) {
	org := licensing.NewOrg()
	lics, err := c.loadLicences(ctx)
	if err != nil {
		return nil, err
	}
	org.Licences = lics
	// Every location first, as not enabled for Calling; the telephony list
	// then marks those that are. A number at a location outside Calling is
	// then reported with the location's name, not as an unknown location.
	err = c.pages(ctx, "list all locations", c.url("/locations", url.Values{"max": {"1000"}}), "items", func(raw json.RawMessage) error {
		var l locationJSON
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		org.Locations[l.ID] = licensing.Location{ID: l.ID, Name: l.Name}
		return nil
	})
	var se *statusError
	if errors.As(err, &se) && se.res.Status == http.StatusForbidden {
		// A token without spark-admin:locations_read still sees the Calling
		// locations; the others then show as unknown.
		c.log.Warn("webex: cannot list all locations; numbers at locations without Calling will show as unknown locations", zap.String("why", se.res.summary()))
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if err := c.callingLocations(ctx, org.Locations); err != nil {
		return nil, err
	}
	q := url.Values{"start": {"0"}, "max": {fmt.Sprint(numbersPage)}}
	err = c.pages(ctx, "list numbers", c.url("/telephony/config/numbers", q), "phoneNumbers", func(raw json.RawMessage) error {
		var n numberJSON
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		if n.PhoneNumber == "" {
			return nil // an extension without a number: nothing to match a directory phone to
		}
		num := licensing.Number{E164: n.PhoneNumber, Extension: n.Extension, LocationID: n.Location.ID, State: n.State}
		if n.Owner != nil {
			num.OwnerType, num.OwnerID = n.Owner.Type, n.Owner.ID
		}
		org.Numbers.Set(num)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.startRoster(org)
	return org, nil
}

// loadLicences reads the organisation's licences and keeps them for Apply.
func (c *Client) loadLicences(ctx context.Context) (map[string]licensing.Licence, error) {
	lics := map[string]licensing.Licence{}
	err := c.pages(ctx, "list licences", c.url("/licenses", nil), "items", func(raw json.RawMessage) error {
		var l licenceJSON
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		lics[l.ID] = licensing.Licence{ID: l.ID, Name: l.Name, SubscriptionID: l.SubscriptionID,
			TotalUnits: l.TotalUnits, ConsumedUnits: l.ConsumedUnits, Status: l.Status}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The client keeps its own copy: the pass reserves units in the
	// snapshot's while the client reads its own to look people up.
	c.mu.Lock()
	c.licences = maps.Clone(lics)
	c.mu.Unlock()
	return lics, nil
}

var nextLink = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// next returns the rel="next" URL of a Link header, resolved against the
// page it came from, or "" on the last page.
func next(link []string, from string) (string, error) {
	for _, l := range link {
		for _, part := range strings.Split(l, ",") {
			m := nextLink.FindStringSubmatch(part)
			if m == nil {
				continue
			}
			base, err := url.Parse(from)
			if err != nil {
				return "", err
			}
			u, err := base.Parse(m[1])
			if err != nil {
				return "", fmt.Errorf("next page link %q: %w", m[1], err)
			}
			return u.String(), nil
		}
	}
	return "", nil
}

// pages reads every page of a list, following Link rel="next" exactly as
// given, and calls each for every element of the array under key. It refuses
// to follow a link to another host: the token would go with it.
func (c *Client) pages(ctx context.Context, op, u, key string, each func(json.RawMessage) error) error {
	return c.pagesUpTo(ctx, op, u, key, 0, each)
}

// errTooManyPages is what pagesUpTo returns when the list goes on past its
// limit.
var errTooManyPages = errors.New("the list has more pages than it is worth reading")

// pagesUpTo is pages reading at most limit pages (0: no limit); a list with
// more ends in errTooManyPages before the next page is asked for.
func (c *Client) pagesUpTo(ctx context.Context, op, u, key string, limit int, each func(json.RawMessage) error) error {
	for page := 1; u != ""; page++ {
		if limit > 0 && page > limit {
			return fmt.Errorf("webex: %s: %w (%d)", op, errTooManyPages, limit)
		}
		var body map[string]json.RawMessage
		res, err := c.getJSON(ctx, op, u, &body)
		if err != nil {
			return err
		}
		var items []json.RawMessage
		if raw, ok := body[key]; ok {
			if err := json.Unmarshal(raw, &items); err != nil {
				return fmt.Errorf("webex: %s: page %d: %q is not a list: %w", op, page, key, err)
			}
		}
		for _, it := range items {
			if err := each(it); err != nil {
				return fmt.Errorf("webex: %s: page %d: %w", op, page, err)
			}
		}
		nu, err := next(res.Header.Values("Link"), u)
		if err != nil {
			return fmt.Errorf("webex: %s: page %d: %w", op, page, err)
		}
		if nu != "" {
			p, _ := url.Parse(nu)
			if p.Host != c.base.Host {
				return fmt.Errorf("webex: %s: page %d: the next page is on another host (%s); not sending the token there", op, page, p.Host)
			}
			if nu == u {
				return fmt.Errorf("webex: %s: page %d links to itself", op, page)
			}
		}
		u = nu
	}
	return nil
}

type personJSON struct {
	ID           string        `json:"id"`
	Emails       []string      `json:"emails"`
	DisplayName  string        `json:"displayName"`
	Licenses     []string      `json:"licenses"`
	LocationID   string        `json:"locationId"`
	PhoneNumbers []phoneNumber `json:"phoneNumbers"`
}

// phoneNumber is one entry of a person's phoneNumbers. With callingData the
// list holds the Calling number as type "work" (primary), beside entries
// such as "work_extension", "enterprise", "mobile", "alternate1" and
// "alternate2"; values are formatted for reading ("+1 408 526 7209").
type phoneNumber struct {
	Type    string `json:"type"`
	Value   string `json:"value"`
	Primary bool   `json:"primary"`
}

func (p personJSON) person() licensing.Person {
	out := licensing.Person{ID: p.ID, DisplayName: p.DisplayName, Licences: p.Licenses, LocationID: p.LocationID}
	if len(p.Emails) > 0 {
		out.Email = p.Emails[0]
	}
	out.PhoneNumber = callingNumber(p.PhoneNumbers)
	return out
}

// callingNumber is the person's Calling number in E.164: the primary "work"
// entry, else the first one. The service formats the value for reading, so
// it is compared only once its formatting is gone; a value that is not a
// number with a country code is kept as shown, matching no directory number.
func callingNumber(nums []phoneNumber) string {
	found := -1
	for i, n := range nums {
		if strings.EqualFold(n.Type, "work") && (found < 0 || n.Primary && !nums[found].Primary) {
			found = i
		}
	}
	if found < 0 {
		return ""
	}
	v := strings.TrimSpace(nums[found].Value)
	if e, ok := unformat(v); ok {
		return e
	}
	return v
}

// unformat turns a number the service shows formatted ("+1 408 526 7209")
// into E.164 by dropping the spaces, dashes, dots and parentheses between its
// digits. It reports false for anything else: no leading '+', letters, or no
// digits. Validity is the service's business: it holds the number.
func unformat(v string) (string, bool) {
	rest, ok := strings.CutPrefix(v, "+")
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 1
}

// People looks each email up (GET /people?email=, with Calling data), as
// many at once as the concurrency allows; or, in a pass that looks up more
// users than listing everyone costs (see ExpectLookups), finds them in the
// organisation's people listed once. A look-up that still fails after its
// retries fails that email alone (licensing.LookupErrors); a rejected token,
// a cancelled pass or licensing.LookupsDown failures in a row (the service
// is down: waiting out every retry of the rest would only delay the pass's
// end) fail them all.
func (c *Client) People(ctx context.Context, emails []string) (map[string]licensing.Person, error) {
	if found, ok, err := c.fromRoster(ctx, emails); ok {
		return found, err
	}
	out := map[string]licensing.Person{}
	failed := licensing.LookupErrors{}
	inARow := 0
	var mu sync.Mutex
	err := c.each(ctx, len(emails), func(ctx context.Context, i int) error {
		email := strings.ToLower(strings.TrimSpace(emails[i]))
		if email == "" {
			return nil
		}
		var body struct {
			Items []personJSON `json:"items"`
		}
		q := url.Values{"email": {email}, "callingData": {"true"}}
		if _, err := c.getJSON(ctx, "look up person", c.url("/people", q), &body); err != nil {
			if errors.Is(err, ErrTokenRejected) || ctx.Err() != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			failed[email] = err
			if inARow++; inARow >= licensing.LookupsDown {
				return fmt.Errorf("webex: %d person look-ups in a row failed, the service looks down; the last: %w", inARow, err)
			}
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		inARow = 0
		for _, p := range body.Items {
			if pp := p.person(); strings.EqualFold(pp.Email, email) {
				out[email] = pp
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

// person reads one person back by id, with Calling data.
func (c *Client) person(ctx context.Context, id string) (licensing.Person, error) {
	var p personJSON
	u := c.url("/people/"+url.PathEscape(id), url.Values{"callingData": {"true"}})
	if _, err := c.getJSON(ctx, "read person back", u, &p); err != nil {
		return licensing.Person{}, err
	}
	return p.person(), nil
}

// holdersPage is the largest page of a licence's users the API serves.
const holdersPage = 300

// Holders returns the people who hold the licence id, each read back with
// Calling data (number and location), for a subscription move.
func (c *Client) Holders(ctx context.Context, id string) ([]licensing.Person, error) {
	var ids []string
	q := url.Values{"includeAssignedTo": {"user"}, "limit": {fmt.Sprint(holdersPage)}}
	err := c.pages(ctx, "list the users of a licence", c.url("/licenses/"+url.PathEscape(id), q), "users", func(raw json.RawMessage) error {
		var u struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			return err
		}
		ids = append(ids, u.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]licensing.Person, len(ids))
	err = c.each(ctx, len(ids), func(ctx context.Context, i int) error {
		p, err := c.person(ctx, ids[i])
		out[i] = p
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// callingLocations adds the locations Calling is enabled on to locations:
// the telephony API lists only those.
func (c *Client) callingLocations(ctx context.Context, locations map[string]licensing.Location) error {
	return c.pages(ctx, "list locations", c.url("/telephony/config/locations", url.Values{"max": {"1000"}}), "locations", func(raw json.RawMessage) error {
		var l locationJSON
		if err := json.Unmarshal(raw, &l); err != nil {
			return err
		}
		locations[l.ID] = licensing.Location{ID: l.ID, Name: l.Name, CallingEnabled: true}
		return nil
	})
}
