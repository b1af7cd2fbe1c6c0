package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
)

var (
	hdrAllow       = []byte("Allow")
	hdrDeprecation = []byte("Deprecation")
	hdrSunset      = []byte("Sunset")
	hdrLink        = []byte("Link")
	hdrRequestID   = []byte("X-Request-Id")
	hdrContentLen  = []byte("Content-Length")
)

// setRequestID keeps the client's X-Request-Id when it is sane (1–128
// visible ASCII characters from a safe set, so it can be echoed in headers,
// JSON and logs), else makes one: a random per-process prefix and a
// counter, unique without a syscall per request.
func (r *request) setRequestID() {
	if id := r.ctx.Request.Header.PeekBytes(hdrRequestID); saneRequestID(id) {
		r.idLen = copy(r.idBuf[:], id)
		return
	}
	n := copy(r.idBuf[:], r.g.idPrefix[:])
	seq := r.g.idSeq.Add(1)
	for i := n + 15; i >= n; i-- {
		r.idBuf[i] = hexDigits[seq&0xf]
		seq >>= 4
	}
	r.idLen = n + 16
}

const hexDigits = "0123456789abcdef"

func saneRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '=' || c == '/' || c == '@') {
			return false
		}
	}
	return true
}

// checkMessage is stage 1 for what the HTTP parser let through: only
// HTTP/1.0 and HTTP/1.1 are spoken (505 is outside the set); a message
// framed by both Content-Length and Transfer-Encoding is refused (RFC 9112
// §6.3: a smuggling attempt, which fasthttp would only mark for closing);
// the request target must be origin-form or absolute-form (RFC 9112 §3.2),
// and its path must normalize.
func (r *request) checkMessage() bool {
	h := &r.ctx.Request.Header
	if r.line == lineBareLF {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request line ends in a bare LF; lines must end in CRLF", 0)
		return false
	}
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "Only HTTP/1.0 and HTTP/1.1 are supported", 0)
		return false
	}
	if conflictingFraming(h.RawHeaders()) {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request has both Content-Length and Transfer-Encoding", 0)
		return false
	}
	p, hop := checkHead(h.RawHeaders())
	if p != headOK {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, p.detail(), 0)
		return false
	}
	// Before any later stage reads a header (see message.go). Only the
	// hop-by-hop fields the head has are looked up. fasthttp's Connection:
	// close flag of an HTTP/1.0 request without the field is cleared, as
	// deleting the field would.
	r.hop = hop
	dropConnectionOptions(h, true, hop)
	if hop&hopConnection == 0 && h.ConnectionClose() {
		h.Del(fasthttp.HeaderConnection)
	}
	target := h.RequestURI()
	if len(target) > 0 && target[0] != '/' {
		rest, ok := absoluteFormPath(target)
		if !ok {
			if string(target) == "*" && h.IsOptions() {
				r.ctx.SetStatusCode(fasthttp.StatusNoContent)
				r.status = fasthttp.StatusNoContent
				return false
			}
			r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request target is not a path", 0)
			return false
		}
		target = rest
	}
	path := target
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		path, r.query = target[:i], target[i+1:]
	}
	if bytes.IndexByte(target, '#') >= 0 {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request target must not contain a fragment", 0)
		return false
	}
	var buf [1024]byte
	norm, err := normalizePath(buf[:0], path)
	if err != nil {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, errDetail(err), 0)
		return false
	}
	if len(norm) <= len(r.pathBuf) {
		r.pathLen = copy(r.pathBuf[:], norm)
	} else {
		r.pathLong = append([]byte(nil), norm...) // a path longer than 1 KiB
	}
	// No route takes more than the largest max_body_bytes (the route's
	// own limit is checked once it is known, in checkRoute).
	return r.checkBodyLength(r.rt.maxBody)
}

func errDetail(err error) string {
	switch err {
	case errEncodedPath:
		return "The request path contains an encoded slash, backslash or NUL"
	case errDotParam:
		return "A dot segment of the request path has a parameter (\"..;\")"
	}
	return "The request path is not a valid URI path"
}

// absoluteFormPath returns the path and query of "http://host/path?q".
func absoluteFormPath(t []byte) ([]byte, bool) {
	var rest []byte
	switch {
	case len(t) > 7 && bytes.EqualFold(t[:7], []byte("http://")):
		rest = t[7:]
	case len(t) > 8 && bytes.EqualFold(t[:8], []byte("https://")):
		rest = t[8:]
	default:
		return nil, false
	}
	i := bytes.IndexAny(rest, "/?")
	if i < 0 {
		return []byte("/"), true
	}
	if rest[i] == '?' {
		return nil, false // "http://host?q" has no path to route
	}
	return rest[i:], true
}

// conflictingFraming reports whether the raw header block has both
// Content-Length and Transfer-Encoding. It reads the wire block because
// fasthttp, once the body is read, keeps neither field as sent.
func conflictingFraming(raw []byte) bool {
	var cl, te bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		c := bytes.IndexByte(line, ':')
		switch {
		case c == len("content-length") && bytes.EqualFold(line[:c], []byte("content-length")):
			cl = true
		case c == len("transfer-encoding") && bytes.EqualFold(line[:c], []byte("transfer-encoding")):
			te = true
		}
	}
	return cl && te
}

// checkTeapot is stage 2: HTCPCP (RFC 2324 §2.1.1 BREW, RFC 7168 WHEN).
func (r *request) checkTeapot() bool {
	m := r.ctx.Request.Header.Method()
	if string(m) == "BREW" || string(m) == "WHEN" {
		r.fail(contract.StatusTeapot, contract.CodeTeapot, "", 0)
		return false
	}
	return true
}

// checkRoute is stage 3: 404 without a route; 410 for a retired route or
// one past its sunset, whatever the method; 418 for a teapot route; 405
// with Allow for a method outside the route's set, and 204 with Allow for
// OPTIONS when the route does not forward it (RFC 9110 §9.3.7, §15.5.6).
func (r *request) checkRoute() bool {
	rt := r.rt.routes.match(r.normPath())
	if rt == nil {
		r.fail(contract.StatusNotFound, contract.CodeRouteNotFound, "", 0)
		return false
	}
	r.route = rt
	if !r.checkBodyLength(rt.maxBody) {
		return false
	}
	if rt.gone(r.start) {
		r.fail(contract.StatusGone, contract.CodeEndpointGone, "", 0)
		return false
	}
	if rt.cfg.Teapot {
		r.fail(contract.StatusTeapot, contract.CodeTeapot, "", 0)
		return false
	}
	m := r.ctx.Request.Header.Method()
	if string(m) == "OPTIONS" && !rt.forwards {
		r.ctx.Response.Header.SetBytesKV(hdrAllow, rt.allow)
		r.ctx.SetStatusCode(fasthttp.StatusNoContent)
		r.status = fasthttp.StatusNoContent
		return false
	}
	if !rt.allows(m) {
		r.ctx.Response.Header.SetBytesKV(hdrAllow, rt.allow)
		r.fail(contract.StatusMethodNotAllowed, contract.CodeMethodNotAllowed, "", 0)
		return false
	}
	if op := rt.operation(m); op != rt {
		r.route = op
		if op.gone(r.start) { // an operation past its x-sunset
			r.fail(contract.StatusGone, contract.CodeEndpointGone, "", 0)
			return false
		}
	}
	return true
}

// checkMaintenance is stage 4.
func (r *request) checkMaintenance() bool {
	if r.rt.cfg.Server.Maintenance || r.route.cfg.Maintenance {
		r.fail(contract.StatusServiceUnavailable, contract.CodeMaintenance, "", r.rt.maintenanceRetry)
		return false
	}
	return true
}

// checkAccept is stage 5 (RFC 9110 §12.5.1; see accept.go).
func (r *request) checkAccept() bool {
	n, err := negotiate(r.ctx.Request.Header.PeekAll(fasthttp.HeaderAccept), r.route.produces)
	r.negotiated, r.problemJSON = true, err == nil && n.problemJSON
	if err != nil {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The Accept header is malformed", 0)
		return false
	}
	if !n.acceptable {
		r.failExtra(contract.StatusNotAcceptable, contract.CodeNotAcceptable, "", 0, r.route.acceptable)
		return false
	}
	return true
}

// decorate adds the headers every response carries: X-Request-Id, and for
// a deprecated or sunsetting route Deprecation (RFC 9745), Sunset and its
// Link (RFC 8594).
func (r *request) decorate() {
	h := &r.ctx.Response.Header
	h.SetBytesKV(hdrRequestID, r.reqID())
	r.rateLimitHeaders()
	r.ensureChallengeAndRetry()
	rt := r.route
	if rt == nil {
		return
	}
	if rt.deprecation != nil && !r.start.Before(rt.deprecateAt) {
		h.SetBytesKV(hdrDeprecation, rt.deprecation)
	}
	if rt.sunset != nil {
		h.SetBytesKV(hdrSunset, rt.sunset)
		if rt.sunsetLink != nil {
			h.AddBytesKV(hdrLink, rt.sunsetLink)
		}
	}
}
