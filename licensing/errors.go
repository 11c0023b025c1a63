package licensing

import (
	"errors"
	"fmt"
)

// ErrUserNotFound is what a source that reads one user by id returns when
// the directory has no user with that id (any more): the help desk is told
// the person left the directory rather than that the source failed.
var ErrUserNotFound = errors.New("the directory has no user with this id")

// ApplyError is a per-user refusal from a target. Targets return it so the
// pass can record a precise cause; any other error is recorded as API_ERROR.
type ApplyError struct {
	Cause  Cause
	Detail string
	// Status is the HTTP status, when there was one.
	Status int
	// TrackingID is the service's request id, for support.
	TrackingID string
}

func (e *ApplyError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Cause, e.Detail)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.TrackingID != "" {
		s += " trackingId=" + e.TrackingID
	}
	return s
}
