//go:build !linux

package ldap

import "errors"

// canPace says this system has SO_RCVLOWAT, and its poller honours it:
// only Linux is known to.
const canPace = false

func setRcvLowat(uintptr, int) error { return errors.ErrUnsupported }
