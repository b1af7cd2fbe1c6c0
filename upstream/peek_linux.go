package upstream

import (
	"syscall"
	"unsafe"
)

// peekAlive reports whether an idle connection can carry a new request:
// a non-blocking MSG_PEEK read sees no end of stream, no error and (on a
// plain HTTP connection) no unsolicited bytes. One system call, no
// allocation (syscall.Recvfrom would build a Sockaddr).
func peekAlive(fd uintptr, tls bool) bool {
	var b [1]byte
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return true // nothing to read: open and quiet
	case errno != 0:
		return false // reset or another error
	case n == 0:
		return false // end of stream: the upstream closed it
	}
	return tls // bytes on an idle plain connection would be read as the next response
}
