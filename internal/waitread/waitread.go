// Package waitread delays the first read after a write, so that it finds
// the answer instead of nothing.
//
// Go's net package reads first and parks the goroutine only when the read
// finds nothing (EAGAIN). Right after a proxy writes a request upstream, or
// a response to its client, the answer cannot have arrived yet, so that
// first read is a system call that returns EAGAIN, and a second read
// follows the wake-up: two of the gateway's six system calls per proxied
// request were such empty reads (README.md "Performance"). A Reader armed
// after a write yields the processor once before that read
// (runtime.Gosched): under load the other connections' work runs first,
// the answer arrives meanwhile, and the read finds it.
//
// Waiting on the poller before the first read would save the empty read
// outright, but is not safe with Go's netpoller: preparing a raw read
// clears a readiness that arrived before it, so an answer that came
// between the write and the wait would never wake it. Yielding changes
// only when the read happens, never whether it sees the data.
package waitread

import (
	"net"
	"runtime"
	"sync/atomic"
)

// Reader is the delayed-read state of one connection. Its zero value
// reads as the connection does until armed. Reads come from one goroutine
// at a time, as a net.Conn's do; Arm may be called from another (a
// tunnel's writer), hence the atomic.
type Reader struct {
	armed atomic.Bool
}

// Arm makes the next Read yield before its system call. Call it after
// writing a message whose answer the next Read expects.
func (r *Reader) Arm() {
	if !r.armed.Load() {
		r.armed.Store(true)
	}
}

// Read reads from c into p, yielding first if armed.
func (r *Reader) Read(c net.Conn, p []byte) (int, error) {
	if r.armed.Load() {
		r.armed.Store(false)
		runtime.Gosched()
	}
	return c.Read(p)
}
