package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// WebSocket (README "WebSocket"; README.md "Streaming, upgrades and large
// bodies"). On a route with websocket = true, a request asking to upgrade
// to websocket (RFC 6455 §4.1: Connection: Upgrade, Upgrade: websocket)
// has passed every check of its route when forward gets it; it is sent on
// a new connection to a target with its upgrade fields. A 101 answer is
// relayed and the two connections are joined byte for byte until either
// side closes, or both are silent for websocket_idle_timeout; any other
// answer is normalized like any response. On other routes Upgrade and
// Connection are hop-by-hop fields and were removed (RFC 9110 §7.6.1).

// isWebSocketUpgrade reports whether h asks for a WebSocket upgrade: a
// GET whose Connection lists "upgrade" and whose Upgrade lists "websocket"
// (RFC 6455 §4.1, RFC 9110 §7.8; both compared case-insensitively).
func isWebSocketUpgrade(h *fasthttp.RequestHeader) bool {
	if !h.IsGet() {
		return false
	}
	return hasToken(h.PeekAll(fasthttp.HeaderConnection), []byte("upgrade")) &&
		hasToken(h.PeekAll("Upgrade"), []byte("websocket"))
}

// hasToken reports whether a comma-separated list field has tok.
func hasToken(values [][]byte, tok []byte) bool {
	for _, v := range values {
		for len(v) > 0 {
			var item []byte
			item, v = nextListItem(v)
			// An Upgrade item may carry a version ("websocket/13").
			if i := bytes.IndexByte(item, '/'); i >= 0 {
				item = item[:i]
			}
			if bytes.EqualFold(item, tok) {
				return true
			}
		}
	}
	return false
}

// forwardUpgrade sends an upgrade request to a target and, on 101, hands
// the client connection to a tunnel.
func (r *request) forwardUpgrade() bool {
	ctx := r.ctx
	req := &ctx.Request
	pool := r.route.upstream
	// Exactly the upgrade fields, whatever else Connection listed.
	req.Header.Set(fasthttp.HeaderConnection, "Upgrade")
	req.Header.Set("Upgrade", "websocket")

	t0 := time.Now()
	r.forwarded = true
	conn, res := pool.Dial(req)
	if res.Target != nil {
		r.target = res.Target.URL
	}
	if res.Outcome != upstream.OK {
		r.fail(contract.StatusServiceUnavailable, contract.CodeUpstreamUnavailable, "The upstream service cannot be reached", res.RetryAfter)
		return true
	}
	// The handshake is bounded by the upstream's timeout, like any head.
	_ = conn.SetDeadline(t0.Add(pool.Timeout()))
	bw := bufio.NewWriterSize(conn, 4096)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	r.bodyDone = true
	br := bufio.NewReaderSize(conn, 4096)
	up := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(up)
	if err == nil {
		err = up.Header.Read(br)
	}
	r.upstreamNs = time.Since(t0)
	if err != nil {
		conn.Close()
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			r.fail(contract.StatusServiceUnavailable, contract.CodeUpstreamTimeout, "The upstream service did not answer in time", 1)
		} else {
			r.fail(contract.StatusInternalServerError, contract.CodeUpstreamBadResponse, "The upstream service sent an invalid response", 0)
		}
		return true
	}
	if up.StatusCode() != fasthttp.StatusSwitchingProtocols {
		// Not upgraded: an ordinary response, normalized as any other.
		if s := up.StatusCode(); s != fasthttp.StatusNoContent && s != fasthttp.StatusNotModified && s >= 200 {
			if err := up.ReadBody(br, errorBodyMax); err != nil {
				r.bodyTooLong = errors.Is(err, fasthttp.ErrBodyTooLarge)
				if !r.bodyTooLong {
					conn.Close()
					r.fail(contract.StatusInternalServerError, contract.CodeUpstreamBadResponse, "The upstream service sent an invalid response", 0)
					return true
				}
			}
		}
		conn.Close()
		up.Header.CopyTo(&ctx.Response.Header)
		if !r.bodyTooLong {
			ctx.Response.SetBody(up.Body())
		}
		r.normalizeResponse()
		return true
	}
	// 101: the upstream's head goes to the client as it is (Upgrade,
	// Connection, Sec-WebSocket-*), then the connections are joined.
	up.Header.CopyTo(&ctx.Response.Header)
	r.status = fasthttp.StatusSwitchingProtocols
	_ = conn.SetDeadline(time.Time{})
	var pending []byte // what the upstream sent after its head
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pending = bytes.Clone(b)
	}
	g, idle := r.g, r.route.wsIdle
	ctx.Hijack(func(c net.Conn) { g.tunnel(c, conn, pending, idle) })
	return true
}

// tunnels tracks the open tunnels, for the gauge and for the drain.
type tunnels struct {
	mu   sync.Mutex
	open map[*tunnel]struct{}
	n    atomic.Int64
}

type tunnel struct {
	client, upstream net.Conn
	last             atomic.Int64 // unix nanoseconds of the last byte either way
	once             sync.Once
}

func (t *tunnel) close() {
	t.once.Do(func() {
		c := t.client
		// fasthttp's hijacked connection ignores Close (it closes it when
		// the hijack handler returns); the socket under it does not.
		if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
			c = u.UnsafeConn()
		}
		c.Close()
		t.upstream.Close()
	})
}

// tunnel joins client and up until either side closes or both are silent
// for idle, then closes both.
func (g *Gateway) tunnel(client, up net.Conn, pending []byte, idle time.Duration) {
	t := &tunnel{client: client, upstream: up}
	t.last.Store(time.Now().UnixNano())
	g.tun.mu.Lock()
	if g.tun.open == nil {
		g.tun.open = map[*tunnel]struct{}{}
	}
	g.tun.open[t] = struct{}{}
	g.tun.mu.Unlock()
	g.tun.n.Add(1)
	defer func() {
		t.close()
		g.tun.mu.Lock()
		delete(g.tun.open, t)
		g.tun.mu.Unlock()
		g.tun.n.Add(-1)
	}()
	if len(pending) > 0 {
		_ = client.SetWriteDeadline(time.Now().Add(idle))
		if _, err := client.Write(pending); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	go func() { t.copy(up, client, idle); done <- struct{}{} }()
	go func() { t.copy(client, up, idle); done <- struct{}{} }()
	<-done // one side ended: end both (the other copy then returns)
	t.close()
	<-done
}

// copy relays src to dst. A read that waits idle ends the tunnel only when
// the other direction was silent as long: a one-way stream is not idle.
func (t *tunnel) copy(dst, src net.Conn, idle time.Duration) {
	bp := tunnelBufPool.Get().(*[32 << 10]byte)
	defer tunnelBufPool.Put(bp)
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(bp[:])
		if n > 0 {
			t.last.Store(time.Now().UnixNano())
			_ = dst.SetWriteDeadline(time.Now().Add(idle))
			if _, werr := dst.Write(bp[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() &&
				time.Since(time.Unix(0, t.last.Load())) < idle {
				continue // the other direction moved meanwhile
			}
			return // EOF, a close, or both sides idle
		}
	}
}

var tunnelBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// drainTunnels waits for the open tunnels to end until ctx is done, then
// closes the rest (shutdown_grace, README "WebSocket").
func (g *Gateway) drainTunnels(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for g.tun.n.Load() > 0 {
		select {
		case <-ctx.Done():
			g.tun.mu.Lock()
			for t := range g.tun.open {
				t.close()
			}
			g.tun.mu.Unlock()
			return
		case <-tick.C:
		}
	}
}
