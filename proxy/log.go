package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/tracing"
)

// accessLog writes one line per request, whatever [log] level says
// (access = true is its own switch). Tokens and bodies are never logged;
// the path is the normalized one, the route its configured name.
// bytes_out is the body's length, or for a body still streaming its
// Content-Length (-1 when chunked: the stream's end is logged only when it
// fails).
func (g *Gateway) accessLog(r *request) {
	var tid [32]byte
	traceID := ""
	if r.trace.hasID {
		traceID = string(tracing.AppendTraceID(tid[:0], r.trace.id))
	}
	consumer := ""
	if r.identity != nil {
		consumer = r.identity.ID
	}
	// Body() on a streamed response would read the whole stream into
	// memory (and the client would get nothing until it ended).
	var bytesOut int64
	if r.streamed {
		bytesOut = int64(r.ctx.Response.Header.ContentLength())
	} else {
		bytesOut = int64(len(r.ctx.Response.Body()))
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	rec.AddAttrs(
		slog.String("request_id", string(r.reqID())),
		slog.String("method", string(r.ctx.Method())),
		slog.String("path", string(r.normPath())),
		slog.String("route", r.routeName()),
		slog.Int("status", r.sentStatus()),
		slog.String("code", r.code),
		slog.String("client", peerAddr(r.ctx).String()),
		slog.String("user_agent", string(r.ctx.Request.Header.UserAgent())),
		slog.String("consumer", consumer),
		slog.Int64("bytes_in", r.bytesIn),
		slog.Int64("bytes_out", bytesOut),
		slog.String("upstream", r.target),
		slog.Float64("upstream_ms", float64(r.upstreamNs)/float64(time.Millisecond)),
		slog.Float64("duration_ms", float64(time.Since(r.start))/float64(time.Millisecond)),
		slog.String("trace_id", traceID),
	)
	_ = g.log.Handler().Handle(context.Background(), rec)
}

// parseError answers what fasthttp could not parse (stage 1 of the order
// of checks) with a contract 400: header_too_large where the head did not
// fit max_header_bytes (fasthttp would say 431), body_too_large past
// max_body_bytes (fasthttp would say 413), malformed_request for the rest
// (bad request line, bad chunking, bad Content-Length, bad transfer
// coding, bare CR or LF, a request not received within read_timeout).
func (g *Gateway) parseError(ctx *fasthttp.RequestCtx, err error) {
	r := request{g: g, rt: g.rt.Load(), ctx: ctx, start: g.now()}
	r.negotiated = true // the head may be half parsed: no Accept to trust
	r.setRequestIDFresh()
	code, detail, kind := contract.CodeMalformedRequest, "The request is not valid HTTP/1.1", "malformed"
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		code, detail, kind = contract.CodeHeaderTooLarge, "The request header is larger than the gateway accepts", contract.CodeHeaderTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, detail, kind = contract.CodeBodyTooLarge, "The request body is larger than the gateway accepts", contract.CodeBodyTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		detail, kind = "The request was not received in time", "timeout"
	}
	ctx.Response.Reset()
	r.fail(contract.StatusBadRequest, code, detail, 0)
	ctx.Response.Header.SetBytesKV(hdrRequestID, r.reqID())
	respellFieldNames(&ctx.Response.Header)
	if r.rt.cfg.Log.Access {
		g.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("request_id", string(r.reqID())),
			slog.Int("status", r.status),
			slog.String("code", r.code),
			slog.String("client", peerAddr(ctx).String()),
			// The kind only: fasthttp's error text quotes the offending
			// bytes, which may be an Authorization or X-Org-Token line.
			slog.String("error", kind),
		)
	}
}

// setRequestIDFresh always makes a new id: a request the parser refused
// has no header that can be trusted.
func (r *request) setRequestIDFresh() {
	r.ctx.Request.Header.Del("X-Request-Id")
	r.setRequestID()
}
