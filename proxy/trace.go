package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/tracing"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// trace is a request's trace context (README "Tracing").
type trace struct {
	parent    tracing.Parent
	hasParent bool
	span      *tracing.Span // nil without [tracing] endpoint
	id        [16]byte      // the trace id, when hasID
	hasID     bool
}

// startTrace reads the client's traceparent and, with a tracer, starts
// the server span of a recorded request. Without a tracer, or for a
// request the sampling leaves out, it only parses (no allocation).
func (r *request) startTrace() {
	h := &r.ctx.Request.Header
	t := &r.trace
	t.parent, t.hasParent = tracing.FromRequest(h)
	// A reload may swap the tracer; a span keeps the one it began on.
	tr := r.g.tracer.Load()
	if !tr.Records(t.parent, t.hasParent) { // nil tracer: false
		t.id, t.hasID = t.parent.TraceID, t.hasParent
		return
	}
	scheme := "http"
	if r.ctx.IsTLS() {
		scheme = "https"
	}
	t.span = tr.Start(&tracing.Request{
		Method: string(r.ctx.Method()), Path: string(r.ctx.Path()), Scheme: scheme,
		Host: string(h.Host()), Client: peerAddr(r.ctx).String(), UserAgent: string(h.UserAgent()),
		Parent: t.parent, HasParent: t.hasParent, TraceState: string(tracing.TraceState(h)),
	}, r.start)
	t.id, t.hasID = t.span.TraceID(), true
}

// traceUpstream prepares the forwarded request's trace fields and returns
// the observer of the upstream attempts (nil without spans). Without
// spans, the client's trace continues with a new parent id; a missing or
// invalid traceparent is not passed on.
func (r *request) traceUpstream(h *fasthttp.RequestHeader) upstream.AttemptObserver {
	t := &r.trace
	switch {
	case t.span != nil:
		return t.span // each attempt sets its own traceparent
	case t.hasParent:
		tracing.Continue(h, t.parent)
	default:
		tracing.Drop(h)
	}
	return nil
}

// endTrace finishes the server span.
func (r *request) endTrace(route string, status int) {
	if r.trace.span != nil {
		r.trace.span.End(route, status, r.code)
		r.trace.span = nil
	}
}
