package proxy

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// request is the state of one request through the pipeline. It lives on
// the handler's stack; nothing keeps a reference to it or to ctx after the
// handler returns.
type request struct {
	g     *Gateway
	rt    *runtime
	ctx   *fasthttp.RequestCtx
	start time.Time
	route *route
	// certSubject describes the verified client certificate, if any.
	certSubject string
	certRead    bool
	// line is what the connection saw of the request line's end (reqline.go).
	line lineVerdict

	// Rate limiting: who the request is, and the decision of both phases.
	limChecked  bool
	limSubject  limiter.Subject
	limDecision limiter.Decision
	// identity is the authenticated token, on routes with auth = true.
	identity *auth.Identity

	// An idempotency claim this request holds until settleClaim.
	claimed bool
	lease   idempotency.Lease

	// path is the normalized path, query the raw query (without '?').
	// path points into pathBuf unless it did not fit; buffers of this
	// struct are referenced by length, not by slices stored in it, so the
	// struct stays on the handler's stack (escape analysis treats a slice
	// of itself stored through a pointer as escaping).
	pathLen  int
	pathLong []byte
	query    []byte

	idLen int
	idBuf [128]byte

	negotiated  bool
	problemJSON bool
	// hop: the hop-by-hop fields of the head (checkHead); forward removes
	// Connection and Upgrade where the route does not upgrade.
	hop hopSet

	// For the access log and metrics.
	forwarded  bool // the upstream pool was asked
	status     int
	code       string
	target     string
	upstreamNs time.Duration

	// The request body (body.go): read (whole or prefetched), consumed in
	// full, or streaming to the upstream through upBody.
	bodyRead   bool
	bodyDone   bool
	bodyFailed bool
	upBody     *reqBody

	// Trace context (README "Tracing"): the client's traceparent, the
	// server span when [tracing] endpoint is set, and the trace id.
	trace   trace
	bytesIn int64 // request body bytes received
	// The response (stream.go): an error body too long to judge, a
	// streamed body, and a streamed one an idempotency record cannot keep.
	bodyTooLong bool
	streamed    bool
	unstored    bool

	pathBuf [1024]byte
}

// normPath is the normalized request path.
func (r *request) normPath() []byte {
	if r.pathLong != nil {
		return r.pathLong
	}
	return r.pathBuf[:r.pathLen]
}

// reqID is the request's id (X-Request-Id and request_id).
func (r *request) reqID() []byte { return r.idBuf[:r.idLen] }

// handle is the fasthttp handler: the stages of README.md's order of
// checks, then forwarding. The first stage that refuses answers.
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	r := request{g: g, rt: g.rt.Load(), ctx: ctx, start: g.now(), line: takeLine(ctx)}
	g.inflight.Add(1)
	defer g.finish(&r)
	r.setRequestID()
	r.startTrace()

	if max := r.rt.cfg.Server.MaxConcurrent; max > 0 && g.inflight.Load() > int64(max) {
		r.fail(contract.StatusServiceUnavailable, contract.CodeOverloaded, "The gateway is at capacity; retry shortly", 1)
		return
	}

	_ = r.checkMessage() && // 1. HTTP parsing and framing the server accepted but the contract refuses → 400
		r.checkTeapot() && //  2. HTCPCP: BREW, WHEN, teapot routes → 418
		r.checkRoute() && //   3. route → 404, 410, 405 (OPTIONS → 204)
		r.checkMaintenance() && // 4. maintenance → 503
		r.checkAccept() && //  5. Accept negotiation → 406
		r.checkLimitsPre() && // 6. rate limits by client address or certificate → 429
		// 7. client certificate, authentication, authorization → 401, 403
		r.checkClientCert() &&
		r.checkAuth() &&
		r.checkLimitsPost() && // 8. rate limits by credential, header or route → 429
		r.checkBody() && // 9. body: malformed JSON → 400, schema → 422
		r.checkIdempotency() && // 10. Idempotency-Key → 400, 409, 422, 503
		r.forward() // 11. upstream: passed through or normalized
}

// finish runs after every request, even one that panicked.
func (g *Gateway) finish(r *request) {
	if p := recover(); p != nil {
		g.log.Error("panic serving request", "request_id", string(r.reqID()), "panic", p)
		r.ctx.Response.Reset()
		r.fail(contract.StatusInternalServerError, contract.CodeInternalError, "", 0)
	}
	// A claim still held here (a panic mid-request) has an unknown outcome.
	r.settleClaim(upstream.Timeout)
	r.decorate()
	respellFieldNames(&r.ctx.Response.Header)
	if r.line == lineBareLF || r.line == lineUnchecked {
		// The next request on this connection could not be checked
		// (reqline.go): it is not read.
		r.ctx.Response.SetConnectionClose()
	}
	if r.bodyUnread() {
		r.lingerClose()
	}
	// Body() would read a still-unread body stream to its end, holding the
	// answer to an early refusal until the client has sent everything.
	if !r.ctx.Request.IsBodyStream() {
		r.bytesIn = int64(len(r.ctx.Request.Body()))
	}
	if r.upBody != nil {
		r.bytesIn = r.upBody.n
		r.upBody.release()
		r.upBody = nil
	}
	g.inflight.Add(-1)
	if g.observer != nil {
		g.observe(r)
	}
	if r.trace.span != nil {
		r.endTrace(r.routeName(), r.sentStatus())
	}
	if r.rt.cfg.Log.Access {
		g.accessLog(r)
	}
}

// routeName is the matched route's configured path, or "".
func (r *request) routeName() string {
	if r.route != nil {
		return r.route.name
	}
	return ""
}

// sentStatus is the status of the response.
func (r *request) sentStatus() int {
	if r.status != 0 {
		return r.status
	}
	return r.ctx.Response.StatusCode()
}

func (g *Gateway) observe(r *request) {
	route, up := "", ""
	if r.route != nil {
		route = r.route.name
		if r.forwarded {
			up = r.route.upstream.Name
		}
	}
	status := r.status
	if status == 0 {
		status = r.ctx.Response.StatusCode()
	}
	g.observer.ObserveRequest(route, r.ctx.Method(), status, r.code, g.now().Sub(r.start), r.upstreamNs, up)
}

// fail answers with a contract error. Headers already set for the
// response (Allow, WWW-Authenticate, RateLimit) are kept.
func (r *request) fail(status int, code, detail string, retryAfter int) {
	r.failExtra(status, code, detail, retryAfter, nil)
}

func (r *request) failExtra(status int, code, detail string, retryAfter int, extra []byte) {
	p := contract.Problem{Status: status, Code: code, Detail: detail, RequestID: r.reqID(), RetryAfter: retryAfter, Extra: extra}
	contract.Write(&r.ctx.Response, &p, contract.Options{TypeBase: r.rt.typeURL, ProblemJSON: r.prefersProblemJSON(), Details: r.rt.details})
	// Copied field by field: assigning p.Code would tie p (which points
	// into r.idBuf) to r and move r to the heap.
	r.status, r.code = p.Status, code
	if p.Status != status {
		r.code = contract.CodeInternalError
	}
}

// prefersProblemJSON reports whether the client's Accept prefers
// application/problem+json over application/json. A malformed Accept
// header gets plain application/json.
func (r *request) prefersProblemJSON() bool {
	if !r.negotiated {
		n, err := negotiate(r.ctx.Request.Header.PeekAll(fasthttp.HeaderAccept), nil)
		r.negotiated, r.problemJSON = true, err == nil && n.problemJSON
	}
	return r.problemJSON
}
