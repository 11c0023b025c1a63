package webex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/licensync/licensync/licensing"
)

// workspaceCalling is the part of a workspace a move reads and changes:
// calling.webexCalling.
type workspaceCalling struct {
	Type         string `json:"type"`
	WebexCalling *struct {
		PhoneNumber string   `json:"phoneNumber"`
		Extension   string   `json:"extension"`
		LocationID  string   `json:"locationId"`
		Licenses    []string `json:"licenses"`
	} `json:"webexCalling"`
}

type workspaceJSON struct {
	ID          string           `json:"id"`
	DisplayName string           `json:"displayName"`
	Calling     workspaceCalling `json:"calling"`
}

func (w workspaceJSON) workspace() licensing.Workspace {
	out := licensing.Workspace{ID: w.ID, Name: w.DisplayName}
	if wc := w.Calling.WebexCalling; wc != nil {
		out.Licences, out.PhoneNumber, out.Extension, out.LocationID = wc.Licenses, wc.PhoneNumber, wc.Extension, wc.LocationID
	}
	return out
}

// WorkspaceHolders returns the Webex Calling workspaces that hold the
// licence id (GET /workspaces?calling=webexCalling, then each workspace's
// details, which carry its licences).
func (c *Client) WorkspaceHolders(ctx context.Context, id string) ([]licensing.Workspace, error) {
	var ids []string
	q := url.Values{"calling": {"webexCalling"}, "max": {"1000"}}
	err := c.pages(ctx, "list workspaces", c.url("/workspaces", q), "items", func(raw json.RawMessage) error {
		var w workspaceJSON
		if err := json.Unmarshal(raw, &w); err != nil {
			return err
		}
		ids = append(ids, w.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := make([]licensing.Workspace, len(ids))
	err = c.each(ctx, len(ids), func(ctx context.Context, i int) error {
		var w workspaceJSON
		if _, err := c.getJSON(ctx, "read workspace", c.url("/workspaces/"+url.PathEscape(ids[i]), nil), &w); err != nil {
			return err
		}
		all[i] = w.workspace()
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []licensing.Workspace
	for _, w := range all {
		if slices.Contains(w.Licences, id) {
			out = append(out, w)
		}
	}
	return out, nil
}

// ApplyWorkspaces moves each workspace's licences, as many at once as the
// concurrency allows. The workspaces API has no licence operation of its
// own: the workspace is read, its licence list changed, and the whole
// workspace written back (PUT replaces it, so every field read is sent back
// as it was, number, extension and location included). Setting the list is
// idempotent, so a write that may have reached the service is simply sent
// again.
func (c *Client) ApplyWorkspaces(ctx context.Context, changes []licensing.WorkspaceChange) ([]error, error) {
	return c.applyEach(ctx, len(changes), func(ctx context.Context, i int) error { return c.applyWorkspace(ctx, changes[i]) })
}

// readOnlyWorkspaceFields are in a workspace's details and not in the body
// of an update.
var readOnlyWorkspaceFields = []string{"id", "orgId", "created", "sipAddress"}

func (c *Client) applyWorkspace(ctx context.Context, ch licensing.WorkspaceChange) error {
	u := c.url("/workspaces/"+url.PathEscape(ch.WorkspaceID), nil)
	op := "move the licence of workspace " + ch.WorkspaceID
	var raw map[string]json.RawMessage
	if _, err := c.getJSON(ctx, "read workspace", u, &raw); err != nil {
		var se *statusError
		if errors.As(err, &se) {
			return refusal(ch.Licences, ch.Remove, se.res)
		}
		return err
	}
	var calling map[string]json.RawMessage
	var wc map[string]json.RawMessage
	if err := json.Unmarshal(raw["calling"], &calling); err != nil || calling["webexCalling"] == nil {
		return &licensing.ApplyError{Cause: licensing.CauseAPIError, Detail: fmt.Sprintf("workspace %s has no Webex Calling settings to move", ch.WorkspaceID)}
	}
	if err := json.Unmarshal(calling["webexCalling"], &wc); err != nil {
		return fmt.Errorf("webex: %s: unexpected answer: %w", op, err)
	}
	var held []string
	if l, ok := wc["licenses"]; ok {
		if err := json.Unmarshal(l, &held); err != nil {
			return fmt.Errorf("webex: %s: unexpected answer: %w", op, err)
		}
	}
	want := slices.DeleteFunc(slices.Clone(held), func(id string) bool { return slices.Contains(ch.Remove, id) })
	for _, id := range ch.Licences {
		if !slices.Contains(want, id) {
			want = append(want, id)
		}
	}
	if slices.Equal(want, held) {
		return nil
	}
	// What the read carries and an update does not take.
	for _, k := range readOnlyWorkspaceFields {
		delete(raw, k)
	}
	var err error
	if wc["licenses"], err = json.Marshal(want); err != nil {
		return err
	}
	if calling["webexCalling"], err = json.Marshal(wc); err != nil {
		return err
	}
	if raw["calling"], err = json.Marshal(calling); err != nil {
		return err
	}
	body, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	var last string
	for n := 1; ; n++ {
		res, err := c.send(ctx, op, http.MethodPut, u, body)
		var se *sendError
		switch {
		case errors.As(err, &se):
			last = se.Error()
		case err != nil:
			return err
		case res.Status < 300:
			return nil
		case transient(res.Status):
			last = res.summary()
		default:
			return refusal(ch.Licences, ch.Remove, res)
		}
		if n >= c.opt.MaxAttempts {
			return &licensing.ApplyError{Cause: licensing.CauseAPIError, Status: statusOf(res), TrackingID: trackingOf(res),
				Detail: fmt.Sprintf("%s: gave up after %d attempts: %s", what(ch.Licences, ch.Remove), n, last)}
		}
		c.retries.Add(1)
		if err := licensing.Sleep(ctx, c.wait(res, n)); err != nil {
			return fmt.Errorf("webex: %s: %w", op, err)
		}
	}
}
