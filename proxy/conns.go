package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/contract"
)

// Connection caps ([server] max_conns and max_conns_per_ip; README.md
// "Security notes"). fasthttp's own Concurrency and MaxConnsPerIP answer
// with plain-text bodies (and 429 for the per-address cap), so the gateway
// counts connections in a listener of its own instead: a connection over
// a cap gets 503 overloaded as a contract body with Retry-After, then is
// closed. The caps are read from the running config at every accept, so a
// reload changes them at once; connections already open are never cut.

// ValidateConnLimits checks [server] max_conns and max_conns_per_ip; each
// error is a *config.FieldError on its key.
func ValidateConnLimits(s *config.Server) error {
	var errs []error
	if s.MaxConns < 1 {
		errs = append(errs, config.FieldErrorf("server.max_conns", "%d: must be at least 1 (default 10000)", s.MaxConns))
	}
	if s.MaxConnsPerIP < 0 {
		errs = append(errs, config.FieldErrorf("server.max_conns_per_ip", "%d: must not be negative (0 = unlimited)", s.MaxConnsPerIP))
	}
	return errors.Join(errs...)
}

// connRefusalGrace bounds what one refused connection may cost: the time
// to write the answer and to drain what the client sent before closing
// (so the client reads the answer rather than a reset, RFC 9112 §9.6), and
// the bytes drained.
// At most maxRefusing refusals are answered at once; beyond that a
// connection over a cap is closed without an answer, so a flood of
// connections cannot pile up goroutines.
const (
	connRefusalGrace = 2 * time.Second
	connRefusalDrain = 64 << 10
	maxRefusing      = 256
)

// connCounter counts open client connections, in all and per address.
type connCounter struct {
	open     atomic.Int64
	refusing atomic.Int64
	mu       sync.Mutex
	perIP    map[netip.Addr]int
}

func (c *connCounter) acquire(ip netip.Addr, maxConns, maxPerIP int) bool {
	if c.open.Add(1) > int64(maxConns) {
		c.open.Add(-1)
		return false
	}
	if maxPerIP <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perIP[ip] >= maxPerIP {
		c.open.Add(-1)
		return false
	}
	if c.perIP == nil {
		c.perIP = make(map[netip.Addr]int)
	}
	c.perIP[ip]++
	return true
}

// release undoes acquire; counted says the address was counted.
func (c *connCounter) release(ip netip.Addr, counted bool) {
	c.open.Add(-1)
	if !counted {
		return
	}
	c.mu.Lock()
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip)
	}
	c.mu.Unlock()
}

// admit applies the caps to a connection the accept loop (listener.go)
// accepted: it returns the connection, counted, or false when it is over
// a cap (it is then answered and closed in the background).
func (g *Gateway) admit(c net.Conn) (net.Conn, bool) {
	s := &g.rt.Load().cfg.Server
	ip := remoteAddr(c)
	if !g.conns.acquire(ip, s.MaxConns, s.MaxConnsPerIP) {
		if g.conns.refusing.Add(1) > maxRefusing {
			g.conns.refusing.Add(-1)
			_ = c.Close()
			return nil, false
		}
		go func() {
			defer g.conns.refusing.Add(-1)
			g.refuseConn(c)
		}()
		return nil, false
	}
	return counted(c, g, ip, s.MaxConnsPerIP > 0), true
}

func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// counted wraps c so that closing it gives its place back, once. A TLS
// connection stays one for fasthttp (it looks for Handshake and
// ConnectionState), so IsTLS and the client certificate still work.
func counted(c net.Conn, g *Gateway, ip netip.Addr, perIP bool) net.Conn {
	r := &releaser{g: g, ip: ip, perIP: perIP}
	if tc, ok := c.(*tls.Conn); ok {
		return &countedTLSConn{Conn: tc, r: r}
	}
	return &countedConn{Conn: c, r: r}
}

type releaser struct {
	g     *Gateway
	ip    netip.Addr
	perIP bool
	done  atomic.Bool
}

func (r *releaser) release() {
	if r.done.CompareAndSwap(false, true) {
		r.g.conns.release(r.ip, r.perIP)
	}
}

type countedConn struct {
	net.Conn
	r  *releaser
	lt lineTracker
}

// Read reads from the connection; the request line tracker (reqline.go)
// sees every byte fasthttp gets.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.lt.observe(p[:n])
	return n, err
}

func (c *countedConn) lines() *lineTracker { return &c.lt }

func (c *countedConn) Close() error {
	c.r.release()
	return c.Conn.Close()
}

type countedTLSConn struct {
	*tls.Conn
	r  *releaser
	lt lineTracker
}

// Read reads the decrypted bytes; see countedConn.Read.
func (c *countedTLSConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.lt.observe(p[:n])
	return n, err
}

func (c *countedTLSConn) lines() *lineTracker { return &c.lt }

func (c *countedTLSConn) Close() error {
	c.r.release()
	return c.Conn.Close()
}

// refuseConn answers a connection over a cap with 503 overloaded, then
// closes it: the write side first, then, after draining what the client
// sent for a bounded time and size, the connection.
func (g *Gateway) refuseConn(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(connRefusalGrace))
	rt := g.rt.Load()
	var id [32]byte
	var resp fasthttp.Response
	p := contract.Problem{
		Status:     contract.StatusServiceUnavailable,
		Code:       contract.CodeOverloaded,
		Detail:     "The gateway has too many open connections; retry shortly",
		RequestID:  g.newRequestID(id[:0]),
		RetryAfter: 1,
	}
	contract.Write(&resp, &p, contract.Options{TypeBase: rt.typeURL})
	resp.Header.SetBytesKV(hdrRequestID, p.RequestID)
	resp.SetConnectionClose()
	bw := bufio.NewWriterSize(c, 1024)
	if err := resp.Write(bw); err != nil || bw.Flush() != nil {
		return
	}
	if g.observer != nil {
		g.observer.ObserveRequest("", nil, contract.StatusServiceUnavailable, contract.CodeOverloaded, 0, 0, "")
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, c, connRefusalDrain)
}

// newRequestID appends a fresh request id (see setRequestID) to dst.
func (g *Gateway) newRequestID(dst []byte) []byte {
	dst = append(dst, g.idPrefix[:]...)
	seq := g.idSeq.Add(1)
	var hex [16]byte
	for i := 15; i >= 0; i-- {
		hex[i] = hexDigits[seq&0xf]
		seq >>= 4
	}
	return append(dst, hex[:]...)
}
