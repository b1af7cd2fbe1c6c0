package upstream

import (
	"net"

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
	t := p.current(now).pick(p, nil)
	if t == nil {
		return nil, Result{Outcome: Unavailable, Err: ErrNoTarget, RetryAfter: p.current(now).retryAfter(now)}
	}
	t.prepare(req)
	c, err := t.dial(t.Addr)
	res := Result{Target: t, Err: err, Attempts: 1}
	if err != nil {
		res.Outcome = Unavailable
		now = p.now()
		p.observe(t, Unavailable, err, nil, now)
		res.RetryAfter = p.current(now).retryAfter(now)
	}
	return c, res
}
