package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
)

// accessLog writes one line per request. Tokens and bodies are never
// logged; the path is the normalized one, the route its configured name.
func (g *Gateway) accessLog(r *request) {
	route := ""
	if r.route != nil {
		route = r.route.name
	}
	status := r.status
	if status == 0 {
		status = r.ctx.Response.StatusCode()
	}
	g.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", string(r.reqID())),
		slog.String("method", string(r.ctx.Method())),
		slog.String("path", string(r.normPath())),
		slog.String("route", route),
		slog.Int("status", status),
		slog.String("code", r.code),
		slog.String("client", peerAddr(r.ctx).String()),
		slog.String("upstream", r.target),
		slog.Float64("upstream_ms", float64(r.upstreamNs)/float64(time.Millisecond)),
		slog.Float64("duration_ms", float64(time.Since(r.start))/float64(time.Millisecond)),
	)
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
