package upstream

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// testConfig is an [[upstreams]] entry with docs/configuration.md's defaults.
func testConfig(targets ...string) config.Upstream {
	return config.Upstream{
		Name:           "api",
		Targets:        targets,
		Balance:        "round_robin",
		ConnectTimeout: config.Duration(time.Second),
		Timeout:        config.Duration(30 * time.Second),
		MaxConns:       1024,
		Retries:        1,
		RetryBudget:    0.2,
		HealthInterval: config.Duration(5 * time.Second),
		HealthTimeout:  config.Duration(time.Second),
		HealthyAfter:   2,
		UnhealthyAfter: 2,
		EjectAfter:     5,
		EjectOn:        config.EjectOnGatewayErrors,
		EjectFor:       config.Duration(30 * time.Second),
		MaxEjected:     0.5,
		PanicThreshold: 0.5,
	}
}

// clock is an injected time source that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuf collects log lines, safe for the checkers' goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newPool(t testing.TB, cfg config.Upstream, opts ...Option) *Pool {
	t.Helper()
	opts = append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	p, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// server is a net/http upstream on 127.0.0.1 that can be killed and
// restarted on the same address, and counts its open connections.
type server struct {
	t       testing.TB
	addr    string
	handler http.Handler
	srv     *http.Server
	open    atomic.Int64
	maxOpen atomic.Int64
}

func startServer(t testing.TB, h http.HandlerFunc) *server {
	s := &server{t: t, addr: "127.0.0.1:0", handler: h}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) URL() string { return "http://" + s.addr }

func (s *server) start() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.handler, ConnState: func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			n := s.open.Add(1)
			for m := s.maxOpen.Load(); n > m && !s.maxOpen.CompareAndSwap(m, n); m = s.maxOpen.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			s.open.Add(-1)
		}
	}}
	go s.srv.Serve(ln)
}

// kill closes the listener and every connection at once.
func (s *server) kill() { s.srv.Close() }

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func fail500(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "boom", http.StatusInternalServerError)
}

// hanging is a target that accepts connections and never answers.
func hanging(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// dead is a target whose port refuses connections.
func dead(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// get sends one GET through p.
func get(p *Pool, method string, deadline time.Time) (Result, int) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("/x")
	res := p.Do(req, resp, deadline)
	return res, resp.StatusCode()
}

func target(p *Pool, url string) *Target {
	for _, t := range p.Targets() {
		if t.URL == url {
			return t
		}
	}
	return nil
}

func stateOf(p *Pool, url string) TargetStats {
	for _, s := range p.Stats().Targets {
		if s.URL == url {
			return s
		}
	}
	return TargetStats{}
}

// eventually polls cond for up to 10 s: an upper bound for a loaded
// machine, not a timing assertion.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func countDials(tg *Target) *atomic.Int64 {
	var n atomic.Int64
	dial := tg.client.Dial
	tg.client.Dial = func(addr string) (net.Conn, error) {
		n.Add(1)
		return dial(addr)
	}
	return &n
}
