package webex

import (
	"context"
	"errors"
	"testing"

	"github.com/licensync/licensync/licensing"
)

func TestAChangeThatAddsAndRemovesNothingIsNotReportedApplied(t *testing.T) {
	f := newFake(t)
	f.org(2, 2, 2)
	c := f.client(t, Options{})
	errs, fatal := c.Apply(context.Background(), []licensing.Change{change(1)})
	var ae *licensing.ApplyError
	if fatal != nil || !errors.As(errs[0], &ae) || ae.Cause != licensing.CauseAPIError || ae.Detail != "the change adds and removes nothing; nothing was sent" {
		t.Fatalf("errs = %v, fatal = %v", errs, fatal)
	}
	if n := len(f.calls("PATCH", "/licenses/users")); n != 0 {
		t.Fatalf("%d PATCH requests sent for an empty change", n)
	}
}
