package upstream

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Dial picks a target as Do does (without retries) and opens a new
// connection to it, outside the pool, for a request that takes its
// connection over (a WebSocket upgrade, RFC 9110 §7.8). req is addressed to
// the target (Host, scheme). A failure to connect feeds passive health
// like any connect failure; Result.Outcome is OK or Unavailable. The
// caller owns and closes the connection.
func (p *Pool) Dial(req *fasthttp.Request) (net.Conn, Result) {
	now := p.now()
	s := p.current(now)
	if s.panic {
		p.panicRequests.Add(1)
	}
	t := s.pick(p, nil)
	if t == nil {
		return nil, Result{Outcome: Unavailable, Err: ErrNoTarget, RetryAfter: s.retryAfter(now)}
	}
	t.prepare(req)
	c, err := t.dial(t.Addr)
	res := Result{Target: t, Err: err, Attempts: 1}
	if err != nil {
		res.Outcome = Unavailable
		now = p.now()
		p.observe(t, failConnect, err, nil, now)
		res.RetryAfter = p.current(now).retryAfter(now)
	}
	return c, res
}

// dialTunnel connects like dialFunc, without the exchange tracking of conn
// and without idle deadlines: a tunnel's bytes are not request/response
// exchanges, and the proxy bounds its silences itself.
func dialTunnel(timeout time.Duration, tc *tls.Config) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		start := time.Now()
		c, err := dialer.DialDualStackTimeout(addr, timeout)
		if err != nil {
			return nil, &dialError{err}
		}
		if tc == nil {
			return c, nil
		}
		tl := tls.Client(c, tc)
		_ = c.SetDeadline(start.Add(timeout))
		if err := tl.Handshake(); err != nil {
			c.Close()
			return nil, &dialError{fmt.Errorf("tls handshake: %w", err)}
		}
		_ = c.SetDeadline(time.Time{})
		return tl, nil
	}
}
