package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// Response bodies (README "Streaming"; README.md "Streaming, upgrades
// and large bodies"). The upstream's answer is read into its own
// fasthttp.Response with StreamBody, so only its head is in memory when
// takeResponse decides:
//   - an error (4xx, 5xx) is read up to errorBodyMax to decide whether it is
//     kept or replaced; a longer one is replaced by the contract body;
//   - a response to an idempotent request is read up to
//     max_stored_response, so it can be stored; a longer one streams on,
//     and its record keeps no body (a replay is 409);
//   - a body of known length up to streamPrefetch is read whole (the
//     small-JSON path: one buffered write, connection back to the pool);
//   - anything else streams to the client through respStream with a fixed
//     buffer, chunk by chunk, each chunk flushed: a text/event-stream
//     reaches the client event by event.
//
// Once the head has gone out, a failure of the upstream body cannot become
// a contract error: respStream returns the error, fasthttp stops writing
// and closes the client connection without the final chunk (or short of
// Content-Length), so the truncation is visible. Each is logged and
// counted (StreamStats).

// errorBodyMax bounds what is read of an error response to judge it.
const errorBodyMax = 64 << 10

// takeResponse moves the upstream's response up into the client's
// ctx.Response, buffered or streamed as above. It returns the outcome: a
// body that fails while it is still read here is a bad response or a
// timeout like any other. up is released, now or when the stream closes.
func (r *request) takeResponse(up *fasthttp.Response) upstream.Outcome {
	resp := &r.ctx.Response
	up.Header.CopyTo(&resp.Header)
	if !up.IsBodyStream() {
		resp.SetBody(up.Body()) // HEAD, 204, 304: no body
		fasthttp.ReleaseResponse(up)
		return upstream.OK
	}
	status := up.StatusCode()
	cl := up.Header.ContentLength()
	limit := int64(-1) // stream
	switch {
	case status >= 400 || status < 200:
		limit = errorBodyMax
	case r.claimed && r.rt.idemMode == idempotency.ModeReplay:
		// Only replay mode stores bodies.
		limit = r.rt.maxStored
	case cl >= 0 && cl <= streamPrefetch:
		limit = int64(cl)
	}
	var buf *bytebufferpool.ByteBuffer
	if limit >= 0 {
		buf = bytebufferpool.Get()
		more, err := readUpTo(buf, up.BodyStream(), limit)
		if err != nil {
			bytebufferpool.Put(buf)
			_ = up.CloseBodyStream()
			fasthttp.ReleaseResponse(up)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				return upstream.Timeout
			}
			return upstream.BadResponse
		}
		if !more || status >= 400 || status < 200 {
			if more {
				r.bodyTooLong = true // replaced whatever it holds
				buf.B = buf.B[:0]
			}
			resp.SetBody(buf.B)
			bytebufferpool.Put(buf)
			_ = up.CloseBodyStream()
			fasthttp.ReleaseResponse(up)
			return upstream.OK
		}
		r.unstored = true // an idempotent response longer than max_stored_response
	}
	s := respStreamPool.Get().(*respStream)
	*s = respStream{g: r.g, ctx: r.ctx, up: up, src: up.BodyStream(), prefix: buf, cl: int64(cl), writeTimeout: r.rt.cfg.Server.WriteTimeout.D()}
	s.idLen = copy(s.id[:], r.reqID())
	if r.route != nil {
		s.route = r.route.name
	}
	r.streamed = true
	if cl < 0 && !r.ctx.Request.Header.IsHTTP11() {
		r.streamToHTTP10(s)
		return upstream.OK
	}
	if cl < 0 {
		cl = -1 // chunked to the client, whatever framing the upstream used
	}
	resp.SetBodyStream(s, cl)
	// The head goes out at once: an event stream's client sees the
	// response before the first event.
	resp.ImmediateHeaderFlush = true
	s.extendWrite()
	return upstream.OK
}

// streamToHTTP10 sends a body of unknown length to an HTTP/1.0 client,
// which cannot read chunked framing (RFC 9112 §7.1): without a length,
// delimited by the close of the connection (RFC 9112 §6.3). fasthttp
// would frame a stream as chunked, so the handler hijacks the connection
// and writes the response itself once the head is final.
func (r *request) streamToHTTP10(s *respStream) {
	ctx := r.ctx
	h := &ctx.Response.Header
	h.SetContentLength(-2) // identity; also Connection: close
	h.Del(fasthttp.HeaderTransferEncoding)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		// ctx stays valid until this returns (fasthttp releases it after).
		defer s.Close()
		bw := bufio.NewWriterSize(c, 4096)
		if ctx.Response.Header.Write(bw) != nil || bw.Flush() != nil {
			return
		}
		buf := tunnelBufPool.Get().(*[32 << 10]byte)
		defer tunnelBufPool.Put(buf)
		for {
			n, err := s.Read(buf[:])
			if n > 0 {
				_ = c.SetWriteDeadline(time.Now().Add(max(s.writeTimeout, time.Second)))
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return // EOF: the close ends the body; else a visible truncation
			}
		}
	})
}

// respStream copies an upstream body to the client. fasthttp reads it
// from the server's goroutine while it writes the response (after the
// handler returned) and closes it when done.
type respStream struct {
	g      *Gateway
	ctx    *fasthttp.RequestCtx
	up     *fasthttp.Response
	src    io.Reader
	prefix *bytebufferpool.ByteBuffer
	off    int
	n, cl  int64
	failed bool

	writeTimeout time.Duration
	route        string
	id           [128]byte
	idLen        int
}

var respStreamPool = sync.Pool{New: func() any { return new(respStream) }}

func (s *respStream) Read(p []byte) (int, error) {
	if s.prefix != nil && s.off < len(s.prefix.B) {
		n := copy(p, s.prefix.B[s.off:])
		s.off += n
		s.n += int64(n)
		s.extendWrite()
		return n, nil
	}
	n, err := s.src.Read(p)
	s.n += int64(n)
	if err == io.EOF && s.cl >= 0 && s.n < s.cl {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		s.fail(err)
		return n, err
	}
	s.extendWrite()
	return n, err
}

// extendWrite gives the write of what was just read the whole
// write_timeout: on a stream the timeout bounds each stalled write, not
// the transfer (README "Streaming").
func (s *respStream) extendWrite() {
	if s.writeTimeout > 0 {
		_ = s.ctx.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
}

func (s *respStream) fail(err error) {
	if s.failed {
		return
	}
	s.failed = true
	s.g.streamAborts.Add(1)
	s.g.log.Warn("upstream body failed after the response head was sent; the client connection is closed to show the truncation",
		"request_id", string(s.id[:s.idLen]), "route", s.route, "bytes_sent", s.n, "error", err.Error())
}

// Close releases the upstream response; an unfinished body closes its
// connection instead of returning it to the pool.
func (s *respStream) Close() error {
	_ = s.up.CloseBodyStream()
	fasthttp.ReleaseResponse(s.up)
	if s.prefix != nil {
		bytebufferpool.Put(s.prefix)
	}
	*s = respStream{}
	respStreamPool.Put(s)
	return nil
}

// StreamStats are the streaming counters, for metrics.
type StreamStats struct {
	// Aborted counts responses whose upstream body failed after the head
	// went to the client (the client saw a truncated body).
	Aborted uint64
	// Tunnels is the number of open WebSocket tunnels.
	Tunnels int64
}

// StreamStats reports the streaming counters.
func (g *Gateway) StreamStats() StreamStats {
	return StreamStats{Aborted: g.streamAborts.Load(), Tunnels: g.tun.n.Load()}
}
