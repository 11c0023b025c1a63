package webex

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/licensync/licensync/licensing"
)

func TestAChangeThatAddsAndRemovesNothingIsNotReportedApplied(t *testing.T) {
	f := newFake(t)
	f.Org(2, 2, 2)
	c := f.client(t, Options{})
	errs, fatal := c.Apply(context.Background(), []licensing.Change{change(1)})
	var ae *licensing.ApplyError
	if fatal != nil || !errors.As(errs[0], &ae) || ae.Cause != licensing.CauseAPIError || ae.Detail != "the change adds and removes nothing; nothing was sent" {
		t.Fatalf("errs = %v, fatal = %v", errs, fatal)
	}
	if n := len(f.Calls("PATCH", "/licenses/users")); n != 0 {
		t.Fatalf("%d PATCH requests sent for an empty change", n)
	}
}

func TestA200WhoseLicencesLackTheChangeIsNotReportedApplied(t *testing.T) {
	tests := []struct {
		name, answer string
		// want is in the detail; empty when the change counts as applied.
		want string
	}{
		{"an answer without the added licence", `{"personId":"P1","licenses":["MEET"]}`, "show Webex Calling - Professional [S1] not applied"},
		{"an answer with the added licence", `{"personId":"P1","licenses":["MEET","CALL"]}`, ""},
		{"an answer that lists no licences is taken at its word", `{}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.Org(2, 2, 2)
			c := f.intercepted(t, func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPatch {
					return false
				}
				w.Header().Set("Trackingid", "NA_200")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(tc.answer))
				return true
			}, Options{})
			errs, fatal := c.Apply(context.Background(), []licensing.Change{change(1, "CALL")})
			if fatal != nil {
				t.Fatal(fatal)
			}
			var ae *licensing.ApplyError
			switch {
			case tc.want == "" && errs[0] != nil:
				t.Fatalf("a confirmed change failed: %v", errs[0])
			case tc.want != "" && (!errors.As(errs[0], &ae) || ae.Cause != licensing.CauseAPIError || !strings.Contains(ae.Detail, tc.want) || ae.TrackingID != "NA_200"):
				t.Fatalf("err = %v, want API_ERROR saying %q with the tracking id", errs[0], tc.want)
			}
		})
	}
}
