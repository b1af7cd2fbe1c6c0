package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/tlsconf"
)

// The client listener, and how a reload changes what fasthttp fixes per
// server (docs/configuration.md, "Reload").
//
// fasthttp reads ReadTimeout, WriteTimeout, IdleTimeout, ReadBufferSize
// (max_header_bytes) and Concurrency from its Server struct while it
// serves, so they cannot be written after Serve without a data race, and
// the first three are applied by the connection loop itself (the first
// request's read deadline and every keep-alive wait are set before any
// hook of ours runs). So the gateway owns the accept loop and hands each
// accepted connection to the current *generation*: a fasthttp.Server
// built from the running [server] settings, serving a listener that only
// this loop feeds. A reload that changes one of those settings builds a
// new generation; new connections go to it at once, and the old one is
// shut down the way fasthttp drains at exit (its idle keep-alive
// connections are closed, a request in progress finishes and its response
// carries Connection: close), so every client is on the new settings
// after its current request. A reload that changes none of them keeps
// the generation, and no connection notices.
//
// TLS is decided per accepted connection too: the loop wraps it in a TLS
// server connection when the running config has tls_cert (the
// certificate, client CA and policy are the running ones), so a reload
// turns TLS on or off for new connections. Connections already open keep
// what they began with.
//
// Keeping one fasthttp.Server and overriding its deadlines per connection
// (a net.Conn wrapper, or Server.HeaderReceived) was the other way; it
// cannot change ReadBufferSize, and it would have to second-guess which
// deadline fasthttp meant at each call.

// serverSettings are the fasthttp.Server fields taken from [server]; a
// change of any of them makes a new generation.
type serverSettings struct {
	readTimeout, writeTimeout, idleTimeout time.Duration
	readBufferSize, concurrency            int
}

func settingsOf(s *config.Server) serverSettings {
	return serverSettings{
		readTimeout:  s.ReadTimeout.D(),
		writeTimeout: s.WriteTimeout.D(),
		idleTimeout:  s.IdleTimeout.D(),
		// The whole request head must fit the read buffer; a larger one is
		// fasthttp's ErrSmallBuffer, answered 400 header_too_large.
		readBufferSize: int(s.MaxHeaderBytes),
		// max_conns is enforced by the accept loop (conns.go) with a
		// contract answer; fasthttp's own cap only needs to stay out of
		// its way.
		concurrency: max(fasthttp.DefaultConcurrency, s.MaxConns),
	}
}

// generation is one fasthttp.Server and the listener that feeds it.
type generation struct {
	srv      *fasthttp.Server
	ln       *handoff
	settings serverSettings
}

// newGeneration builds a generation for s (not yet serving).
func (g *Gateway) newGeneration(s serverSettings) *generation {
	return &generation{settings: s, ln: newHandoff(), srv: &fasthttp.Server{
		Handler:        g.handle,
		ErrorHandler:   g.parseError,
		ReadTimeout:    s.readTimeout,
		WriteTimeout:   s.writeTimeout,
		IdleTimeout:    s.idleTimeout,
		ReadBufferSize: s.readBufferSize,
		Concurrency:    s.concurrency,
		// Every body streams (README "Streaming"): the handler decides
		// how much of it to hold, and enforces [server] and each route's
		// max_body_bytes per request (body.go), so a reload changes them
		// at once. fasthttp's MaxRequestBodySize is left at its default:
		// while streaming it only bounds the first bytes fasthttp reads
		// ahead (at most 8 KiB).
		StreamRequestBody:            true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		Logger:                       slogPrinter{g.log},
	}}
}

// listenerTLS is the running TLS state of the client listener.
type listenerTLS struct {
	srv *tlsconf.Server // reloads swap its certificate and client CA in place
	cfg *tls.Config     // srv.Config(), made once
}

func newListenerTLS(srv *tlsconf.Server) *listenerTLS {
	return &listenerTLS{srv: srv, cfg: srv.Config()}
}

// listeners is the Gateway's listener state.
type listeners struct {
	gen atomic.Pointer[generation]  // new connections go here
	tls atomic.Pointer[listenerTLS] // nil: plain HTTP

	mu       sync.Mutex
	raw      net.Listener // set by Serve
	serving  bool         // Serve started the current generation
	stopping atomic.Bool
	draining sync.WaitGroup // old generations still shutting down
}

// useGeneration makes next the generation new connections go to, and
// shuts the old one down in the background. It cannot fail.
func (g *Gateway) useGeneration(next *generation) {
	l := &g.lis
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping.Load() {
		return // draining: the running generation finishes the work
	}
	old := l.gen.Swap(next)
	if !l.serving {
		return // Serve starts the current one
	}
	go serveGeneration(next)
	// Close the old feed first: the accept loop then takes the new
	// generation, and the old Serve returns even if it has not begun.
	old.ln.Close()
	l.draining.Add(1)
	go func() {
		defer l.draining.Done()
		// No deadline: requests in progress finish on their own time
		// (write_timeout bounds a slow client); Shutdown waits for them.
		_ = old.srv.ShutdownWithContext(context.Background())
	}()
}

func serveGeneration(gen *generation) {
	// Its listener never fails: Serve returns nil when it is closed.
	_ = gen.srv.Serve(gen.ln)
}

// Serve accepts connections on ln until Shutdown. With tls_cert and
// tls_key (at the moment a connection is accepted) the connection speaks
// TLS (1.2 and 1.3, ALPN http/1.1).
func (g *Gateway) Serve(ln net.Listener) error {
	l := &g.lis
	l.mu.Lock()
	if l.stopping.Load() {
		l.mu.Unlock()
		return ln.Close()
	}
	l.raw, l.serving = ln, true
	go serveGeneration(l.gen.Load())
	l.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if l.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(time.Second) // as fasthttp's own accept loop does
				continue
			}
			// The socket failed: the server stops accepting too (its open
			// connections go on until Shutdown).
			l.gen.Load().ln.Close()
			return err
		}
		if t := l.tls.Load(); t != nil {
			c = tls.Server(c, t.cfg)
		}
		c, ok := g.admit(c)
		if !ok {
			continue
		}
		// A reload may close the generation just loaded: then the next
		// load sees its successor.
		for !l.gen.Load().ln.hand(c) {
			if l.stopping.Load() {
				_ = c.Close()
				return nil
			}
		}
	}
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is
// done, and closes keep-alive connections (with Connection: close on the
// last response).
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.shutdownListeners(ctx)
	// Hijacked connections are no longer the server's: open WebSocket
	// tunnels get what is left of the grace, then are closed.
	g.drainTunnels(ctx)
	g.rt.Load().close()
	g.jwtCache.Close()
	if g.redis != nil {
		g.redis.Close()
	}
	g.shutdownTracer()
	return err
}

func (g *Gateway) shutdownListeners(ctx context.Context) error {
	l := &g.lis
	l.mu.Lock()
	l.stopping.Store(true)
	if l.raw != nil {
		_ = l.raw.Close()
	}
	l.mu.Unlock()
	cur := l.gen.Load()
	cur.ln.Close()
	err := cur.srv.ShutdownWithContext(ctx)
	// Generations a reload replaced may still be finishing requests.
	drained := make(chan struct{})
	go func() { l.draining.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// handoff is a net.Listener fed by the gateway's accept loop.
type handoff struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoff() *handoff {
	return &handoff{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// hand gives c to the server accepting on h; false when h is closed (c
// is then still the caller's).
func (h *handoff) hand(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.closed:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		// fasthttp's Serve returns nil on this error.
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "gateway accept loop" }
