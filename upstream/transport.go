package upstream

import (
	"bufio"
	"io"
	"sync"

	"github.com/valyala/fasthttp"
)

// streamTransport is the fasthttp RoundTripper of request connections. It
// reads the response head, then either the whole body, when it is short and
// of known length (the common small-JSON answer: buffered, the connection
// back in the pool, no allocation), or nothing more: the response then
// carries a body stream (an upstreamBody) that reads the rest from the
// connection as the caller consumes it, and returns the connection to the
// pool (or closes it, when unfinished) on Close. Memory per response is
// bounded by the connection's read buffer, whatever the body size
// (README "Streaming").
//
// fasthttp's own StreamBody does the same but allocates four objects per
// response, small ones included; this transport allocates only for the
// responses that stream.
type streamTransport struct{}

// bufferedBodyMax is the largest body of known length read whole here. A
// longer one, or one of unknown length, streams.
const bufferedBodyMax = 64 << 10

// maxInterim bounds the 1xx responses skipped before the final one (as
// fasthttp does).
const maxInterim = 100

func (streamTransport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	// The wait for a free connection is bounded by MaxConnWaitTimeout;
	// reads and writes by the idleConn of each connection.
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	resp.ParseNetConn(conn)

	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		if x, ok := err.(interface{ Timeout() bool }); ok && x.Timeout() {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}

	br := hc.AcquireReader(conn)
	if err = readHead(&resp.Header, br); err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, err
	}
	closeConn := req.ConnectionClose() || resp.ConnectionClose()
	status := resp.StatusCode()
	cl := resp.Header.ContentLength()
	switch {
	case req.Header.IsHead() || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified:
		// No body (RFC 9112 §6.3).
	case cl >= 0 && cl <= bufferedBodyMax:
		if err = resp.ReadBody(br, bufferedBodyMax); err != nil {
			hc.ReleaseReader(br)
			hc.CloseConn(cc)
			return false, err
		}
	default:
		b := newBody(hc, cc, (*fasthttp.HostClient).CloseConn, (*fasthttp.HostClient).ReleaseConn)
		// A body delimited by the close of the connection (no length, not
		// chunked) leaves nothing to reuse.
		b.br, b.closeConn = br, closeConn || cl == -2
		b.inner = fasthttp.AcquireResponse()
		resp.Header.CopyTo(&b.inner.Header)
		b.inner.StreamBody = true
		// fasthttp's body reader (Content-Length, chunked with trailers,
		// or until close), reading from br as b is read.
		if err = b.inner.ReadBody(br, 0); err != nil {
			b.release(true)
			return false, err
		}
		b.src = b.inner.BodyStream()
		resp.SetBodyStream(b, cl)
		return false, nil
	}
	hc.ReleaseReader(br)
	if closeConn {
		hc.CloseConn(cc)
	} else {
		hc.ReleaseConn(cc)
	}
	return false, nil
}

// readHead reads the final response head, skipping interim 1xx responses
// but 101 (RFC 9110 §15.2).
func readHead(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	if err := h.Read(br); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if s := h.StatusCode(); s < 100 || s > 199 || s == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n >= maxInterim {
			return errTooManyInterim
		}
		if err := h.Read(br); err != nil {
			return err
		}
	}
}

var errTooManyInterim = &interimError{}

type interimError struct{}

func (*interimError) Error() string { return "upstream: too many 1xx responses" }

// upstreamBody is a response body read from its connection as the caller
// reads it. Close returns the connection to the pool when the body was
// read to its end, and closes it otherwise. C is fasthttp's connection
// handle (an unexported type, so it is carried as a type parameter, with
// the HostClient methods that take it as method expressions).
type upstreamBody[C any] struct {
	hc        *fasthttp.HostClient
	cc        C
	closeFn   func(*fasthttp.HostClient, C)
	releaseFn func(*fasthttp.HostClient, C)
	br        *bufio.Reader
	inner     *fasthttp.Response
	src       io.Reader
	closeConn bool
	done      bool
}

// bodyPool holds *upstreamBody of fasthttp's one connection type.
var bodyPool sync.Pool

func newBody[C any](hc *fasthttp.HostClient, cc C, closeFn, releaseFn func(*fasthttp.HostClient, C)) *upstreamBody[C] {
	b, _ := bodyPool.Get().(*upstreamBody[C])
	if b == nil {
		b = new(upstreamBody[C])
	}
	b.hc, b.cc, b.closeFn, b.releaseFn = hc, cc, closeFn, releaseFn
	return b
}

func (b *upstreamBody[C]) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

// Close implements io.Closer; fasthttp calls it when the response holding
// the stream is reset or released.
func (b *upstreamBody[C]) Close() error {
	b.release(!b.done)
	return nil
}

func (b *upstreamBody[C]) release(discard bool) {
	_ = b.inner.CloseBodyStream()
	fasthttp.ReleaseResponse(b.inner)
	b.hc.ReleaseReader(b.br)
	if discard || b.closeConn {
		b.closeFn(b.hc, b.cc)
	} else {
		b.releaseFn(b.hc, b.cc)
	}
	*b = upstreamBody[C]{}
	bodyPool.Put(b)
}
