package ldap

import "syscall"

// canPace says this system has SO_RCVLOWAT, and its poller honours it.
const canPace = true

func setRcvLowat(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n)
}
