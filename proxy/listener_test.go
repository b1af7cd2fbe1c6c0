package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A reload that changes a setting fasthttp fixes per server puts new
// connections on a new server and drains the old one; one that does not
// keeps the server (listener.go).
func TestReloadSwapsServerForNewConnections(t *testing.T) {
	g, c, parse := inmemGateway(t, func(up string) string { return strings.ReplaceAll(inmemDoc, "UP", up) })
	get := func() {
		t.Helper()
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://gw.test/v1/assets")
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			t.Fatalf("GET: %v %d", err, resp.StatusCode())
		}
	}
	get()
	first := g.lis.gen.Load()
	if err := g.Reload(parse(inmemDoc + "[[routes]]\npath = \"/v1/extra\"\nmethods = [\"GET\"]\nupstream = \"api\"\n")); err != nil {
		t.Fatal(err)
	}
	if g.lis.gen.Load() != first {
		t.Fatal("a reload that changed no listener setting made a new server")
	}
	if err := g.Reload(parse("[server]\nread_timeout = \"2s\"\nwrite_timeout = \"3s\"\nidle_timeout = \"300ms\"\nmax_header_bytes = \"8KiB\"\n" + inmemDoc)); err != nil {
		t.Fatal(err)
	}
	next := g.lis.gen.Load()
	if next == first || next.srv.ReadTimeout != 2*time.Second || next.srv.WriteTimeout != 3*time.Second ||
		next.srv.IdleTimeout != 300*time.Millisecond || next.srv.ReadBufferSize != 8<<10 {
		t.Fatalf("after the reload: same server %v, read %v, write %v, idle %v, buffer %d", next == first,
			next.srv.ReadTimeout, next.srv.WriteTimeout, next.srv.IdleTimeout, next.srv.ReadBufferSize)
	}
	// The client's keep-alive connection was on the old server, which
	// closes it; the client retries on a new one.
	for range 3 {
		get()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.shutdownListeners(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// A connection handed to a listener that is closing is either accepted
// or given back, never lost.
func TestHandoffLosesNoConnection(t *testing.T) {
	for range 50 {
		h := newHandoff()
		var accepted, returned atomic.Int64
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				if _, err := h.Accept(); err != nil {
					return
				}
				accepted.Add(1)
			}
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				a, b := net.Pipe()
				if !h.hand(a) {
					returned.Add(1)
				}
				a.Close()
				b.Close()
			}
		}()
		time.Sleep(time.Microsecond)
		h.Close()
		wg.Wait()
		if accepted.Load()+returned.Load() != 100 {
			t.Fatalf("accepted %d + returned %d != 100", accepted.Load(), returned.Load())
		}
	}
}
