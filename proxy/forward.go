package proxy

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// isHopHeader reports whether name is a connection-specific field a proxy
// must not forward (RFC 9110 §7.6.1), as in net/http/httputil's reverse
// proxy, plus HTTP2-Settings (RFC 9113 §3.2.1).
func isHopHeader(k []byte) bool {
	switch len(k) {
	case 2:
		return bytes.EqualFold(k, []byte("te"))
	case 7:
		return bytes.EqualFold(k, []byte("trailer")) || bytes.EqualFold(k, []byte("upgrade"))
	case 10:
		return bytes.EqualFold(k, []byte("connection")) || bytes.EqualFold(k, []byte("keep-alive"))
	case 14:
		return bytes.EqualFold(k, []byte("http2-settings"))
	case 16:
		return bytes.EqualFold(k, []byte("proxy-connection"))
	case 17:
		return bytes.EqualFold(k, []byte("transfer-encoding"))
	case 18:
		return bytes.EqualFold(k, []byte("proxy-authenticate"))
	case 19:
		return bytes.EqualFold(k, []byte("proxy-authorization"))
	}
	return false
}

// hopNames collects the names of the hop-by-hop fields of a message and
// of every field named in its Connection header (RFC 9110 §7.6.1), so they
// can be deleted after the scan. Most messages have none.
type hopNames struct {
	buf  [512]byte
	ends [24]int
	n    int
	conn bool
}

func (hn *hopNames) add(name []byte) {
	start := 0
	if hn.n > 0 {
		start = hn.ends[hn.n-1]
	}
	if hn.n < len(hn.ends) && start+len(name) <= len(hn.buf) {
		hn.ends[hn.n] = start + copy(hn.buf[start:], name)
		hn.n++
	}
}

func (hn *hopNames) collect(keys [][]byte) {
	for _, k := range keys {
		if isHopHeader(k) {
			hn.add(k)
			hn.conn = hn.conn || bytes.EqualFold(k, []byte("connection"))
		}
	}
}

func (hn *hopNames) addTokens(values [][]byte) {
	for _, v := range values {
		for len(v) > 0 {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = trimOWS(tok); len(tok) > 0 {
				hn.add(tok)
			}
		}
	}
}

func (hn *hopNames) name(i int) []byte {
	start := 0
	if i > 0 {
		start = hn.ends[i-1]
	}
	return hn.buf[start:hn.ends[i]]
}

// dropRequestHopHeaders and dropResponseHopHeaders delete the fields
// hopNames finds. (Two copies because the header types share no interface
// that would not move the buffers to the heap.)
func dropRequestHopHeaders(h *fasthttp.RequestHeader) {
	var hn hopNames
	hn.collect(h.PeekKeys())
	if hn.conn {
		hn.addTokens(h.PeekAll("Connection"))
	}
	for i := 0; i < hn.n; i++ {
		h.DelBytes(hn.name(i))
	}
}

func dropResponseHopHeaders(h *fasthttp.ResponseHeader) {
	var hn hopNames
	hn.collect(h.PeekKeys())
	if hn.conn {
		hn.addTokens(h.PeekAll("Connection"))
	}
	for i := 0; i < hn.n; i++ {
		h.DelBytes(hn.name(i))
	}
}

// gatewayOwned are request fields only the gateway may set: a client
// cannot pose as an authenticated consumer or a verified certificate.
var gatewayOwned = [...]string{"x-consumer-id", "x-client-cert-subject"}

// dropGatewayOwned removes every client-sent copy of a gateway-owned field,
// in any case and with "_" for "-" (some servers and CGI-style frameworks
// read X_Consumer_Id as X-Consumer-Id).
func dropGatewayOwned(h *fasthttp.RequestHeader) {
	var found [4][64]byte
	var lens [4]int
	n := 0
	for k := range h.All() {
		if n < len(found) && len(k) <= 64 && isGatewayOwned(k) {
			lens[n] = copy(found[n][:], k)
			n++
		}
	}
	for i := 0; i < n; i++ {
		h.DelBytes(found[i][:lens[i]])
	}
	if n == len(found) {
		dropGatewayOwned(h) // more copies than one pass holds
	}
}

func isGatewayOwned(k []byte) bool {
	for _, name := range gatewayOwned {
		if len(k) != len(name) {
			continue
		}
		same := true
		for i := 0; i < len(k) && same; i++ {
			c := k[i] | 0x20
			if k[i] == '_' {
				c = '-'
			}
			same = c == name[i]
		}
		if same {
			return true
		}
	}
	return false
}

var (
	hdrXFF        = []byte("X-Forwarded-For")
	hdrXFProto    = []byte("X-Forwarded-Proto")
	hdrXFHost     = []byte("X-Forwarded-Host")
	hdrExpect     = []byte("Expect")
	hdrRetryAfter = []byte("Retry-After")
	hdrWWWAuth    = []byte("WWW-Authenticate")
	hdrProxyAuth  = []byte("Proxy-Authenticate")
	hdrRateLimit  = []byte("RateLimit")
	hdrRLPolicy   = []byte("RateLimit-Policy")
)

// forward is stage 11: send the request to the route's upstream and
// answer with its response, passed through or normalized.
func (r *request) forward() bool {
	ctx := r.ctx
	req := &ctx.Request
	h := &req.Header
	pool := r.route.upstream

	dropRequestHopHeaders(h)
	h.DelBytes(hdrExpect)
	dropGatewayOwned(h)
	r.setForwardedHeaders()
	h.SetBytesKV(hdrRequestID, r.reqID())
	if r.identity != nil {
		h.Set("X-Consumer-Id", r.identity.ID)
	}
	if r.certSubject != "" {
		h.Set("X-Client-Cert-Subject", r.certSubject)
	}
	if !r.route.cfg.ForwardAuthorization {
		h.Del("Authorization")
	}

	var uri [512]byte
	u := append(uri[:0], r.route.stripPrefix(r.normPath())...)
	if len(r.query) > 0 {
		u = append(u, '?')
		u = append(u, r.query...)
	}
	h.SetRequestURIBytes(u)
	req.SetRequestURIBytes(u)

	body, ok := r.prepareBody()
	if !ok {
		return true
	}
	r.upBody = body

	t0 := time.Now()
	r.forwarded = true
	up := fasthttp.AcquireResponse()
	up.StreamBody = true
	res := pool.Do(req, up, t0.Add(pool.Timeout()))
	r.upstreamNs = time.Since(t0)
	if res.Target != nil {
		r.target = res.Target.URL
	}
	if body != nil && body.err != nil {
		// The client's body failed (too large, cut, malformed) while it
		// streamed: the upstream request was aborted, no response started.
		fasthttp.ReleaseResponse(up)
		r.failBodyRead(body.err)
		r.settleClaim(upstream.Unavailable)
		return true
	}
	if res.Outcome == upstream.OK {
		res.Outcome = r.takeResponse(up)
	} else {
		fasthttp.ReleaseResponse(up)
	}
	switch res.Outcome {
	case upstream.Unavailable:
		ctx.Response.Reset()
		r.fail(contract.StatusServiceUnavailable, contract.CodeUpstreamUnavailable, "The upstream service cannot be reached", res.RetryAfter)
	case upstream.Timeout:
		ctx.Response.Reset()
		r.fail(contract.StatusServiceUnavailable, contract.CodeUpstreamTimeout, "The upstream service did not answer in time", 1)
	case upstream.BadResponse:
		ctx.Response.Reset()
		r.fail(contract.StatusInternalServerError, contract.CodeUpstreamBadResponse, "The upstream service sent an invalid response", 0)
	default:
		r.normalizeResponse()
	}
	r.settleClaim(res.Outcome)
	return true
}

// setForwardedHeaders sets X-Forwarded-For, -Proto and -Host. Values a
// client sent are believed only from a peer in trusted_proxies; from any
// other peer they are replaced, so a client cannot spoof its address.
func (r *request) setForwardedHeaders() {
	h := &r.ctx.Request.Header
	peer := peerAddr(r.ctx)
	trusted := false
	for _, p := range r.rt.trusted {
		if p.Contains(peer) {
			trusted = true
			break
		}
	}
	var buf [256]byte
	b := buf[:0]
	if trusted {
		for _, v := range h.PeekAll("X-Forwarded-For") {
			b = append(b, v...)
			b = append(b, ", "...)
		}
	}
	b = peer.AppendTo(b)
	h.SetBytesKV(hdrXFF, b)
	if !trusted || len(h.PeekBytes(hdrXFProto)) == 0 {
		if r.ctx.IsTLS() {
			h.SetBytesV("X-Forwarded-Proto", []byte("https"))
		} else {
			h.SetBytesV("X-Forwarded-Proto", []byte("http"))
		}
	}
	if !trusted || len(h.PeekBytes(hdrXFHost)) == 0 {
		h.SetBytesKV(hdrXFHost, h.Host())
	}
}

// peerAddr is the socket peer's address, IPv4-mapped addresses unmapped.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// normalizeResponse applies CONTRACT.md "Upstream normalization" to the
// upstream's response in ctx.Response.
func (r *request) normalizeResponse() {
	resp := &r.ctx.Response
	// The upstream's Connection: close concerns our connection to it, not
	// the client's (RFC 9110 §7.6.1).
	resp.Header.ResetConnectionClose()
	from := resp.StatusCode()
	if from < 200 {
		resp.Reset()
		r.fail(contract.StatusInternalServerError, contract.CodeUpstreamBadResponse, "The upstream service sent an invalid response", 0)
		return
	}
	to, code := r.rt.table.Map(from)
	switch {
	case code == "":
		r.status = from
	case to == from && r.rt.cfg.Errors.KeepUpstreamJSON && from < 500 && !r.bodyTooLong && isJSONBody(resp):
		// The upstream API's own error: kept as is, so field-level
		// details reach the client.
		r.status, r.code = from, "upstream_json"
	default:
		// Replaced whole (the upstream's headers go with it).
		r.replaceResponse(from, to, code)
		return
	}
	dropResponseHopHeaders(&resp.Header)
}

// replaceResponse swaps an upstream error for the contract body, keeping
// only what the contract says survives: the challenge of a 401/407, the
// Retry-After of a 429/503, and RateLimit fields.
func (r *request) replaceResponse(from, to int, code string) {
	resp := &r.ctx.Response
	var keep [1024]byte
	k := keep[:0]
	var challenge, rl, rlp []byte
	if to == 401 {
		src := hdrWWWAuth
		if from == 407 {
			src = hdrProxyAuth
		}
		k, challenge = appendKept(k, resp.Header.PeekBytes(src))
	}
	k, rl = appendKept(k, joinValues(resp.Header.PeekAll("RateLimit")))
	k, rlp = appendKept(k, joinValues(resp.Header.PeekAll("RateLimit-Policy")))
	retry := 0
	if to == 503 || to == 429 {
		retry = 1
		if v, ok := parseRetryAfter(resp.Header.PeekBytes(hdrRetryAfter), r.start); ok {
			retry = v
		}
	}
	resp.Reset()
	if to == 401 {
		if len(challenge) == 0 {
			challenge = r.rt.challenge
		}
		resp.Header.SetBytesKV(hdrWWWAuth, challenge)
	}
	if len(rl) > 0 {
		resp.Header.SetBytesKV(hdrRateLimit, rl)
	}
	if len(rlp) > 0 {
		resp.Header.SetBytesKV(hdrRLPolicy, rlp)
	}
	r.fail(to, code, "", retry)
}

func appendKept(dst, v []byte) ([]byte, []byte) {
	if len(v) == 0 {
		return dst, nil
	}
	start := len(dst)
	dst = append(dst, v...)
	return dst, dst[start:]
}

// joinValues joins field lines into one list value (RFC 9110 §5.3).
func joinValues(vs [][]byte) []byte {
	if len(vs) <= 1 {
		if len(vs) == 1 {
			return vs[0]
		}
		return nil
	}
	var out []byte
	for i, v := range vs {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, v...)
	}
	return out
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3)
// as whole seconds from now, at least 1.
func parseRetryAfter(v []byte, now time.Time) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	if n, err := strconv.Atoi(string(v)); err == nil {
		return max(n, 1), n >= 0
	}
	t, err := fasthttp.ParseHTTPDate(v)
	if err != nil {
		return 0, false
	}
	return max(int(t.Sub(now).Round(time.Second)/time.Second), 1), true
}

// isJSONBody reports whether the response declares a JSON media type
// (application/json or application/*+json, RFC 6839 §3.1) and its body
// parses as JSON.
func isJSONBody(resp *fasthttp.Response) bool {
	ct := resp.Header.ContentType()
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimOWS(ct)
	if !bytes.EqualFold(ct, []byte("application/json")) {
		if len(ct) < 17 || !bytes.EqualFold(ct[:12], []byte("application/")) || !bytes.EqualFold(ct[len(ct)-5:], []byte("+json")) {
			return false
		}
	}
	return json.Valid(resp.Body())
}

// clientAddr is the client's address: the socket peer, or the first
// untrusted hop of X-Forwarded-For when the peer is a trusted proxy.
func (r *request) clientAddr() netip.Addr {
	peer := peerAddr(r.ctx)
	if len(r.rt.trusted) == 0 {
		return peer
	}
	return limiter.ClientIP(peer, r.rt.trusted, r.ctx.Request.Header.PeekAll("X-Forwarded-For")...)
}
