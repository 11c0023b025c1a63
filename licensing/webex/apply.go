package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/licensync/licensync/licensing"
)

type patchBody struct {
	Email    string      `json:"email,omitempty"`
	PersonID string      `json:"personId,omitempty"`
	OrgID    string      `json:"orgId,omitempty"`
	Licenses []licenceOp `json:"licenses"`
}

type licenceOp struct {
	ID         string        `json:"id"`
	Operation  string        `json:"operation"`
	Properties *callingProps `json:"properties,omitempty"`
}

type callingProps struct {
	LocationID  string `json:"locationId,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
	Extension   string `json:"extension,omitempty"`
}

// patchAnswer is the person as PATCH /licenses/users returns them.
type patchAnswer struct {
	PersonID string   `json:"personId"`
	Licenses []string `json:"licenses"`
}

// Apply adds each change's licences, as many people at once as the
// concurrency allows. A rejected token stops the pass: the changes not yet
// sent then carry an error saying so, and the second result is set.
func (c *Client) Apply(ctx context.Context, changes []licensing.Change) ([]error, error) {
	if err := c.ensureLicences(ctx); err != nil {
		return nil, err
	}
	return c.applyEach(ctx, len(changes), func(ctx context.Context, i int) error { return c.apply(ctx, changes[i]) })
}

// applyEach runs one write per index with the concurrency allowed and
// returns one error per write. A rejected token stops the rest: the writes
// not yet made carry an error saying so, and the second result is set.
func (c *Client) applyEach(ctx context.Context, n int, write func(ctx context.Context, i int) error) ([]error, error) {
	errs := make([]error, n)
	done := make([]bool, n)
	pass := c.each(ctx, n, func(ctx context.Context, i int) error {
		err := write(ctx, i)
		if errors.Is(err, ErrTokenRejected) {
			return err
		}
		errs[i], done[i] = err, true
		return nil
	})
	if pass != nil {
		for i := range errs {
			if !done[i] {
				errs[i] = fmt.Errorf("webex: not applied, the pass stopped: %w", pass)
			}
		}
	}
	return errs, pass
}

func (c *Client) ensureLicences(ctx context.Context) error {
	c.mu.Lock()
	loaded := c.licences != nil
	c.mu.Unlock()
	if loaded {
		return nil
	}
	_, err := c.loadLicences(ctx)
	return err
}

func (c *Client) isCalling(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.licences[id].IsCalling()
}

// workersPerSlot is how many workers share one request slot. A worker that
// waits out a Retry-After holds no slot, so with more workers than slots the
// others keep the allowed rate busy: when a burst of 429s answers every
// request in flight at once, the pass does not stall for the whole wait.
const workersPerSlot = 4

// each runs fn for 0..n-1 on workers and returns the first error, after
// which no further index is started. Requests in flight stay bounded by
// Concurrency (send holds a slot while a request is out).
func (c *Client) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(workersPerSlot*c.opt.Concurrency, n) {
		wg.Go(func() {
			for i := range idx {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = context.Cause(ctx)
	}
	return first
}

// body is the PATCH for the licences of ch still to add (pending) and still
// to remove (removing): one request, so a move never leaves the person
// without Calling in between.
func (c *Client) body(ch licensing.Change, pending, removing []string) ([]byte, error) {
	b := patchBody{PersonID: ch.PersonID, OrgID: c.opt.OrgID}
	if b.PersonID == "" {
		b.Email = ch.Email
	}
	for _, id := range pending {
		op := licenceOp{ID: id, Operation: "add"}
		if c.isCalling(id) {
			op.Properties = &callingProps{LocationID: ch.LocationID, PhoneNumber: ch.PhoneNumber, Extension: ch.Extension}
		}
		b.Licenses = append(b.Licenses, op)
	}
	for _, id := range removing {
		b.Licenses = append(b.Licenses, licenceOp{ID: id, Operation: "remove"})
	}
	return json.Marshal(b)
}

// what names a change's licences for messages: "adding A, B and removing C".
func what(pending, removing []string) string {
	var parts []string
	if len(pending) > 0 {
		parts = append(parts, "adding "+strings.Join(pending, ", "))
	}
	if len(removing) > 0 {
		parts = append(parts, "removing "+strings.Join(removing, ", "))
	}
	return strings.Join(parts, " and ")
}

// apply adds ch's licences and removes what it replaces. Throttling and
// transport failures before the request was written are retried as is;
// after a failure that may have reached the service, the person is read
// back and only what is still to do is sent again, so no licence is
// requested twice once applied.
func (c *Client) apply(ctx context.Context, ch licensing.Change) error {
	pending := slices.Compact(slices.Sorted(slices.Values(ch.Licences)))
	removing := slices.Compact(slices.Sorted(slices.Values(ch.Remove)))
	if len(pending) == 0 && len(removing) == 0 {
		// Nothing sent is nothing confirmed: the pass must not report it applied.
		return &licensing.ApplyError{Cause: licensing.CauseAPIError, Detail: "the change adds and removes nothing; nothing was sent"}
	}
	who := ch.Email
	if who == "" {
		who = ch.PersonID
	}
	op := "change the licences of " + who
	u := c.url("/licenses/users", nil)
	var last string
	for n := 1; ; n++ {
		body, err := c.body(ch, pending, removing)
		if err != nil {
			return fmt.Errorf("webex: %s: %w", op, err)
		}
		res, err := c.send(ctx, op, http.MethodPatch, u, body)
		var se *sendError
		reconcile := false
		switch {
		case errors.As(err, &se):
			last = se.Error()
			reconcile = se.Sent
		case err != nil:
			return err
		case res.Status == http.StatusPartialContent:
			return c.partial(pending, removing, res)
		case res.Status < 300:
			return c.confirmed(pending, removing, res)
		case res.Status == http.StatusTooManyRequests || res.Status == http.StatusLocked:
			last = res.summary()
		case res.Status >= 500:
			last = res.summary()
			reconcile = true
		default:
			return refusal(pending, removing, res)
		}
		if reconcile {
			add, rm, err := c.reconcile(ctx, ch, pending, removing)
			if errors.Is(err, ErrTokenRejected) || ctx.Err() != nil {
				return err
			}
			if err != nil {
				return &licensing.ApplyError{Cause: licensing.CauseAPIError,
					Detail: fmt.Sprintf("%s may or may not have been applied (%s) and reading the person back failed: %v; not sent again", what(pending, removing), last, err)}
			}
			if len(add) == 0 && len(rm) == 0 {
				c.log.Info("webex: change confirmed applied after an unanswered request", zap.String("person", who))
				return nil
			}
			pending, removing = add, rm
		}
		if n >= c.opt.MaxAttempts {
			return &licensing.ApplyError{Cause: licensing.CauseAPIError, Status: statusOf(res),
				Detail: fmt.Sprintf("%s: gave up after %d attempts: %s", what(pending, removing), n, last), TrackingID: trackingOf(res)}
		}
		wait := c.wait(res, n)
		c.retries.Add(1)
		c.log.Debug("webex: retrying", zap.String("op", op), zap.Int("attempt", n), zap.Duration("wait", wait), zap.String("why", last))
		if err := licensing.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("webex: %s: %w", op, err)
		}
	}
}

func statusOf(res *response) int {
	if res == nil {
		return 0
	}
	return res.Status
}

func trackingOf(res *response) string {
	if res == nil {
		return ""
	}
	return res.apiError().TrackingID
}

// reconcile reads the person back and returns the pending licences they do
// not hold yet and the ones to remove they still hold.
func (c *Client) reconcile(ctx context.Context, ch licensing.Change, pending, removing []string) (add, remove []string, err error) {
	var p licensing.Person
	if ch.PersonID != "" {
		if p, err = c.person(ctx, ch.PersonID); err != nil {
			return nil, nil, err
		}
	} else {
		var body struct {
			Items []personJSON `json:"items"`
		}
		q := url.Values{"email": {strings.ToLower(ch.Email)}, "callingData": {"true"}}
		if _, err := c.getJSON(ctx, "read person back", c.url("/people", q), &body); err != nil {
			return nil, nil, err
		}
		if len(body.Items) == 0 {
			return nil, nil, errors.New("the person is gone")
		}
		p = body.Items[0].person()
	}
	for _, id := range pending {
		if !slices.Contains(p.Licences, id) {
			add = append(add, id)
		}
	}
	for _, id := range removing {
		if slices.Contains(p.Licences, id) {
			remove = append(remove, id)
		}
	}
	return add, remove, nil
}

// confirmed checks a 2xx answer: when it lists the person's licences, the
// ones added must be among them and the ones removed not, or the change is
// not reported applied. An answer without the list is taken at its word.
func (c *Client) confirmed(pending, removing []string, res *response) error {
	var a patchAnswer
	if json.Unmarshal(res.Body, &a) != nil || a.Licenses == nil {
		return nil
	}
	_, missing, kept := a.landed(pending, removing)
	if len(missing) == 0 && len(kept) == 0 {
		return nil
	}
	return &licensing.ApplyError{Cause: licensing.CauseAPIError, Status: res.Status, TrackingID: trackingOf(res),
		Detail: fmt.Sprintf("the service answered %d, but the person's licences after it show %s not applied: %s", res.Status,
			orNone(append(c.names(missing), prefixed("removal of ", c.names(kept))...)), res.summary())}
}

// landed compares the person's licences in the answer with what was asked:
// got and missing are the pending licences the person holds and does not,
// kept the ones to remove the person still holds.
func (a *patchAnswer) landed(pending, removing []string) (got, missing, kept []string) {
	for _, id := range pending {
		if slices.Contains(a.Licenses, id) {
			got = append(got, id)
		} else {
			missing = append(missing, id)
		}
	}
	for _, id := range removing {
		if slices.Contains(a.Licenses, id) {
			kept = append(kept, id)
		}
	}
	return got, missing, kept
}

// partial turns a 206 into an error naming the licences the person did not
// get, or still holds though asked to remove. A 206 carries no per-licence
// error list: the answer's licenses, the person's licences after the
// request, are compared with what was asked. An answer without them leaves
// every requested change unconfirmed, so the user fails.
func (c *Client) partial(pending, removing []string, res *response) error {
	var a patchAnswer
	err := json.Unmarshal(res.Body, &a)
	if err == nil && a.Licenses == nil {
		err = errors.New("it lists no licences")
	}
	if err != nil {
		return &licensing.ApplyError{Cause: licensing.CauseAPIError, Status: res.Status, TrackingID: trackingOf(res),
			Detail: fmt.Sprintf("%s was partly applied, and the answer does not say what landed (%v): %s", what(pending, removing), err, res.summary())}
	}
	got, missing, kept := a.landed(pending, removing)
	if len(missing) == 0 && len(kept) == 0 {
		return nil
	}
	e := refusal(missing, kept, res)
	e.Detail = fmt.Sprintf("applied %s; not applied %s: %s", orNone(c.names(got)), orNone(append(c.names(missing), prefixed("removal of ", c.names(kept))...)), res.summary())
	if e.Cause == licensing.CauseAPIError {
		e.Cause = licensing.CauseLicenceUnavailable
	}
	return e
}

// names names licences for the help desk: "Webex Calling - Professional
// [SUB-1]" rather than an id of eighty characters; the id when the licence is
// not known.
func (c *Client) names(ids []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if l, ok := c.licences[id]; ok && l.Name != "" {
			out[i] = fmt.Sprintf("%s [%s]", l.Name, l.SubscriptionID)
		}
	}
	return out
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

func prefixed(p string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = p + id
	}
	return out
}

// refusal maps a final error answer to a per-user cause.
func refusal(pending, removing []string, res *response) *licensing.ApplyError {
	e := res.apiError()
	return &licensing.ApplyError{
		Cause:      cause(res.Status, e),
		Detail:     fmt.Sprintf("%s was refused: %s", what(pending, removing), res.summary()),
		Status:     res.Status,
		TrackingID: e.TrackingID,
	}
}

// Documented error codes of PATCH /licenses/users.
const (
	codeLocationNotFound   = 400
	codeLicenceUnknown     = 400000
	codeCallingProperties  = 400411
	codeOneOfOfferCode     = 400413
	codeProfessionalNeeded = 400408
	// codeDowngradeRefused: Professional to Standard is not allowed, and
	// codeBothCallingKinds: a person cannot hold Professional and Standard.
	// Both refuse the combination, not a unit: retrying will not help, and
	// the detail carries the service's words and tracking id.
	codeDowngradeRefused = 400112
	codeBothCallingKinds = 400404
)

// cause maps an error answer to a cause: by documented code first, then by
// the wording of the codes the reference does not list (number in use, no
// free units).
func cause(status int, e apiError) licensing.Cause {
	if status == http.StatusNotFound {
		return licensing.CauseWebexUserNotFound
	}
	text := strings.ToLower(e.Message)
	for _, x := range e.Errors {
		switch x.ErrorCode {
		case codeLocationNotFound:
			return licensing.CauseNumberLocationInvalid
		case codeLicenceUnknown, codeOneOfOfferCode, codeProfessionalNeeded:
			return licensing.CauseLicenceUnavailable
		case codeCallingProperties, codeDowngradeRefused, codeBothCallingKinds:
			return licensing.CauseAPIError
		}
		text += " " + strings.ToLower(x.Description)
	}
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(text, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("number") && has("already assigned", "in use", "assigned to another", "is assigned"):
		return licensing.CauseNumberAssignedToOther
	case has("licen") && has("no available", "insufficient", "not enough", "exceed", "no free", "none available"):
		return licensing.CauseLicenceUnavailable
	case has("location") && has("not found", "unable to find", "not enabled", "invalid"):
		return licensing.CauseNumberLocationInvalid
	case has("agent") && has("both", "standard and premium", "premium and standard"):
		return licensing.CauseAgentLicenceConflict
	case has("user not found", "person not found"):
		return licensing.CauseWebexUserNotFound
	}
	return licensing.CauseAPIError
}
