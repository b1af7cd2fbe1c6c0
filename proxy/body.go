package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// Request bodies (README "Streaming"; README.md "Streaming, upgrades and
// large bodies"). The server streams every request body (fasthttp's
// StreamRequestBody), so the gateway decides how much of it to hold:
//   - a route with body_schema, and a request with an Idempotency-Key, need
//     the whole body (to validate it, to hash it): it is read in full, up to
//     the route's max_body_bytes (readWholeBody);
//   - any other body is read up to streamPrefetch bytes before forwarding:
//     a body that ends within them is sent as a plain body (the small-JSON
//     path), a longer one streams on to the upstream through reqBody,
//     holding at most that buffer (prepareBody).
//
// A Content-Length over max_body_bytes is refused before anything is read
// (checkBodyLength). A chunked body that crosses the limit while streaming
// makes reqBody fail: the upstream request is aborted (no final chunk), and
// the client gets 400 body_too_large, since no response has started.

// streamPrefetch is how much of a body the gateway reads before it decides
// to stream it: also the bound of what it holds per streamed request body.
const streamPrefetch = 32 << 10

var errBodyTooLarge = fmt.Errorf("%w: larger than max_body_bytes", upstream.ErrRequestBody)

// checkBodyLength refuses a declared Content-Length over limit (stage 1,
// with the server-wide limit, and again with the route's once it is known).
func (r *request) checkBodyLength(limit int64) bool {
	if cl := r.ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		r.failBodyTooLarge()
		return false
	}
	return true
}

func (r *request) failBodyTooLarge() {
	r.fail(contract.StatusBadRequest, contract.CodeBodyTooLarge, "The request body is larger than this endpoint accepts", 0)
}

// readWholeBody reads the request body into memory, up to the route's
// max_body_bytes; over it, or unreadable, the request is refused.
func (r *request) readWholeBody() bool {
	req := &r.ctx.Request
	if r.bodyRead || !req.IsBodyStream() {
		return true
	}
	r.bodyRead = true
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	more, err := readUpTo(buf, req.BodyStream(), r.route.maxBody)
	switch {
	case err != nil:
		r.failBodyRead(err)
		return false
	case more:
		r.failBodyTooLarge()
		return false
	}
	req.SetBody(buf.B)
	r.bodyDone = true
	return true
}

// failBodyRead answers a body the client could not deliver whole (a bad
// chunk, a cut connection, a read timeout) and closes the connection.
func (r *request) failBodyRead(err error) {
	r.bodyFailed = true // the connection lingers, then closes (finish)
	if errors.Is(err, errBodyTooLarge) {
		r.failBodyTooLarge()
		return
	}
	r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request body could not be read", 0)
}

// prepareBody readies the body for forwarding: a plain body when it ends
// within streamPrefetch bytes, else a reqBody that streams the rest. It
// returns the reqBody (nil for a plain body) or false when it answered.
func (r *request) prepareBody() (*reqBody, bool) {
	req := &r.ctx.Request
	if r.bodyRead || !req.IsBodyStream() {
		return nil, true
	}
	r.bodyRead = true
	src := req.BodyStream()
	cl := req.Header.ContentLength()
	buf := bytebufferpool.Get()
	more, err := readUpTo(buf, src, min(streamPrefetch, r.route.maxBody))
	if err != nil {
		bytebufferpool.Put(buf)
		r.failBodyRead(err)
		return nil, false
	}
	if !more {
		req.SetBody(buf.B)
		bytebufferpool.Put(buf)
		r.bodyDone = true
		return nil, true
	}
	if int64(streamPrefetch) >= r.route.maxBody {
		bytebufferpool.Put(buf)
		r.failBodyTooLarge()
		return nil, false
	}
	b := reqBodyPool.Get().(*reqBody)
	*b = reqBody{prefix: buf, src: src, n: int64(len(buf.B)), limit: r.route.maxBody, ctx: r.ctx, readTimeout: r.rt.cfg.Server.ReadTimeout.D()}
	// The request keeps b as its stream; a chunked body stays chunked.
	req.SetBodyStream(b, cl)
	return b, true
}

// readUpTo appends src to buf until EOF or more than limit bytes; more
// reports the latter (buf then holds limit+some bytes, at most one read
// more). A read error other than EOF is returned.
func readUpTo(buf *bytebufferpool.ByteBuffer, src io.Reader, limit int64) (more bool, err error) {
	for {
		if int64(len(buf.B)) > limit {
			return true, nil
		}
		if cap(buf.B)-len(buf.B) < 4096 {
			buf.B = slices.Grow(buf.B, int(max(4096, min(int64(cap(buf.B)), limit+1-int64(len(buf.B))))))
		}
		n, err := src.Read(buf.B[len(buf.B):cap(buf.B)])
		buf.B = buf.B[:len(buf.B)+n]
		if err == io.EOF {
			return int64(len(buf.B)) > limit, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// reqBody streams a request body to the upstream: the prefetched prefix,
// then the rest as the client sends it, never more than limit bytes in
// all. Its first failure is kept in err, wrapping upstream.ErrRequestBody,
// so the forwarder can tell a client's failure from the upstream's.
type reqBody struct {
	prefix   *bytebufferpool.ByteBuffer
	off      int
	src      io.Reader
	n, limit int64
	err      error
	eof      bool

	// While a body streams, read_timeout bounds each silence of the
	// client rather than the whole upload (README "Streaming").
	ctx         *fasthttp.RequestCtx
	readTimeout time.Duration
}

var reqBodyPool = sync.Pool{New: func() any { return new(reqBody) }}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.off < len(b.prefix.B) {
		n := copy(p, b.prefix.B[b.off:])
		b.off += n
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.readTimeout > 0 {
		_ = b.ctx.SetReadDeadline(time.Now().Add(b.readTimeout))
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.err = errBodyTooLarge
		return 0, b.err
	}
	if err != nil && err != io.EOF {
		b.err = fmt.Errorf("%w: %w", upstream.ErrRequestBody, err)
		return n, b.err
	}
	b.eof = err == io.EOF
	return n, err
}

// release returns b's buffers; the request must no longer read it.
func (b *reqBody) release() {
	bytebufferpool.Put(b.prefix)
	*b = reqBody{}
	reqBodyPool.Put(b)
}

// Lingering close (RFC 9112 §9.6; README.md "Upstream normalization"):
// an answer sent while the request body is still arriving is followed by
// reading and discarding the rest of it, for at most lingerTime and
// lingerBytes, before the connection closes; closing at once with unread
// data would make the client's kernel reset the connection, and the
// client would likely never read the answer.
const (
	lingerTime  = 5 * time.Second
	lingerBytes = 64 << 20
)

// bodyUnread reports whether part of a request body may still be on the
// wire: the request has a body the handler has not consumed in full.
func (r *request) bodyUnread() bool {
	req := &r.ctx.Request
	if r.bodyFailed {
		return true
	}
	if r.bodyDone {
		return false
	}
	if r.upBody != nil {
		return !r.upBody.eof
	}
	// No stream: no body, or one fasthttp read whole (in-process tests).
	return req.IsBodyStream() && req.Header.ContentLength() != 0
}

// lingerClose arranges the lingering close of the client connection: the
// handler hijacks it without a response from fasthttp, writes the answer
// itself with Connection: close (so the client does not send another
// request on it), and lingers. fasthttp would otherwise close at once
// when the response says close, or drain only 256 KiB.
func (r *request) lingerClose() {
	ctx := r.ctx
	ctx.Response.SetConnectionClose()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		// ctx stays valid until this returns (fasthttp releases it after).
		bw := bufio.NewWriterSize(c, 4096)
		if ctx.Response.Write(bw) != nil || bw.Flush() != nil {
			return
		}
		linger(c)
	})
}

func linger(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(lingerTime))
	buf := lingerBufPool.Get().(*[16 << 10]byte)
	defer lingerBufPool.Put(buf)
	for n := 0; n < lingerBytes; {
		m, err := c.Read(buf[:])
		n += m
		if err != nil {
			return
		}
	}
}

var lingerBufPool = sync.Pool{New: func() any { return new([16 << 10]byte) }}
