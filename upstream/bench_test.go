package upstream

import (
	"net"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/config"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

var sinkTarget *Target

func benchPool(b *testing.B, balance string) *Pool {
	cfg := testConfig("http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3", "http://127.0.0.1:4")
	cfg.Balance = config.Balance(balance)
	return newPool(b, cfg)
}

// BenchmarkPick is the request path's choice: one atomic load of the
// snapshot, its expiry check and the policy.
func BenchmarkPick(b *testing.B) {
	for _, balance := range []string{"round_robin", "least_conn"} {
		b.Run(balance, func(b *testing.B) {
			p := benchPool(b, balance)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				sinkTarget = p.current(now).pick(p, nil)
			}
		})
		b.Run(balance+"/parallel", func(b *testing.B) {
			p := benchPool(b, balance)
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var t *Target
				for pb.Next() {
					t = p.current(now).pick(p, nil)
				}
				sinkTarget = t
			})
		})
	}
}

// BenchmarkObserveSuccess is the passive-health cost of a good answer.
func BenchmarkObserveSuccess(b *testing.B) {
	p := benchPool(b, "round_robin")
	t := p.Targets()[0]
	resp := fasthttp.AcquireResponse()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.observe(t, failNone, nil, resp, now)
	}
}

// BenchmarkDo is a whole call over an in-memory connection: what the
// package adds to fasthttp's client must not allocate.
func BenchmarkDo(b *testing.B) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go srv.Serve(ln) //nolint:errcheck
	b.Cleanup(func() { ln.Close() })
	p := benchPool(b, "least_conn")
	for _, t := range p.Targets() {
		t.client.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("/x")
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Do(req, resp, time.Now().Add(time.Second)); res.Outcome != OK {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkDoLoopback is a whole call over a real loopback TCP connection
// through the pool's own dialer: the connection wrapper and its liveness
// check (one MSG_PEEK recvfrom per request on a reused connection) must
// not allocate.
func BenchmarkDoLoopback(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go srv.Serve(ln) //nolint:errcheck
	b.Cleanup(func() { ln.Close() })
	p := newPool(b, testConfig("http://"+ln.Addr().String()))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("/x")
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Do(req, resp, time.Now().Add(time.Second)); res.Outcome != OK {
			b.Fatal(res.Err)
		}
	}
}

var sinkRetry bool

// BenchmarkRetryDecision is the cost of the decision after a failure.
func BenchmarkRetryDecision(b *testing.B) {
	get := []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		sinkRetry = RetryDecision(fasthttp.ErrConnectionClosed, get, true, false)
	}
}
