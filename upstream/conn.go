package upstream

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// conn wraps every TCP connection to a target (under TLS, when the target
// speaks it) to learn, for each exchange, what fasthttp's errors do not
// say: whether the connection had served a request before (a pooled
// keep-alive connection), whether the upstream had already closed it while
// it sat idle (then nothing is sent), and whether any response byte
// arrived.
//
// fasthttp hands a connection to one request at a time, so the fields need
// no lock; the pool reads them only after a failed call, when fasthttp has
// closed the connection and no other request can hold it. The pool finds
// the connection of a call through Response.LocalAddr, which fasthttp
// fills from the connection's LocalAddr: conn answers with its connAddr,
// which points back to it.
type conn struct {
	net.Conn
	raw  syscall.RawConn // nil: the liveness check is skipped
	tls  bool            // bytes pending on an idle TLS connection may be a session ticket
	addr connAddr
	peek func(fd uintptr) bool // built once, so a check does not allocate

	phase     uint8 // idle, sending, receiving
	exchanges int   // exchanges started on this connection
	reused    bool  // the current exchange is not the connection's first
	stale     bool  // the liveness check failed: nothing of the exchange was sent
	started   bool  // a response byte arrived in the current exchange
	alive     bool  // result of the last peek
	lastStart int64 // monotonic ns when the previous exchange started
}

// recentUse is how recently a pooled connection must have started its
// previous exchange for the liveness check to be skipped. The check is a
// system call on every reused connection (measured at 15–20% of the
// gateway's CPU per proxied GET, README "Performance"); under load a
// connection comes back within milliseconds, far inside any upstream's
// keep-alive idle timeout (seconds: gunicorn 2 s, Node 5 s, nginx 75 s),
// so only a connection idle longer than this is checked. A close inside
// this window is the same race as a close between the check and the
// write: an idempotent request is retried, others get 500.
const recentUse = 50 * time.Millisecond

// clockStart anchors monotonic readings (time.Since reads the monotonic
// clock; an int64 keeps conn free of time.Time's wall part).
var clockStart = time.Now()

const (
	phaseIdle uint8 = iota
	phaseSending
	phaseReceiving
)

// connAddr is the local address of a conn, pointing back to it.
type connAddr struct {
	net.Addr
	c *conn
}

// errStaleConn is the error of a write on a pooled connection that the
// upstream closed while it was idle: nothing was sent.
var errStaleConn = errors.New("upstream closed the idle keep-alive connection; nothing was sent")

func newConn(c net.Conn) *conn {
	w := &conn{Conn: c}
	w.addr = connAddr{Addr: c.LocalAddr(), c: w}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.peek = func(fd uintptr) bool {
				w.alive = peekAlive(fd, w.tls)
				return true // never wait for readability
			}
		}
	}
	return w
}

// LocalAddr is the connection's local address, as a *connAddr.
func (c *conn) LocalAddr() net.Addr { return &c.addr }

// resetExchanges forgets the bytes of the TLS handshake, so the first
// request is the connection's first exchange.
func (c *conn) resetExchanges() {
	c.phase, c.exchanges, c.reused, c.stale, c.started = phaseIdle, 0, false, false, false
}

// Write starts a new exchange when the previous one is over (or on a new
// connection). A connection that served an exchange before is checked
// first: if the upstream closed it meanwhile, or sent bytes nobody asked
// for (a 408 before closing), the write fails with errStaleConn before
// anything is sent.
func (c *conn) Write(b []byte) (int, error) {
	if c.phase != phaseSending {
		c.reused = c.exchanges > 0
		c.exchanges++
		c.stale, c.started = false, false
		now := int64(time.Since(clockStart))
		recent := c.reused && now-c.lastStart < int64(recentUse)
		c.lastStart = now
		if c.reused && c.raw != nil && !recent {
			c.alive = true
			if err := c.raw.Read(c.peek); err == nil && !c.alive {
				c.stale = true
				return 0, errStaleConn
			}
		}
		c.phase = phaseSending
	}
	return c.Conn.Write(b)
}

// Read notes the first response byte of the exchange.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.phase == phaseSending {
		c.phase, c.started = phaseReceiving, true
	}
	return n, err
}

// exchangeOf returns the connection a failed call used, from the local
// address fasthttp recorded in resp; nil when no connection was used (a
// connect failure) or it is not one of ours.
func exchangeOf(laddr net.Addr) *conn {
	if a, ok := laddr.(*connAddr); ok {
		return a.c
	}
	return nil
}
