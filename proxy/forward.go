package proxy

import (
	"bytes"
	"encoding/json"
	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/upstream"
)

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

	// An upgrade keeps its Connection and Upgrade fields on a websocket
	// route; everywhere else they are hop-by-hop and removed.
	upgrade := r.route.websocket && isWebSocketUpgrade(h)
	dropConnectionOptions(h, upgrade, r.hop)
	h.DelBytes(hdrExpect)
	r.setForwardingFields()
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

	if upgrade {
		return r.forwardUpgrade()
	}

	body, ok := r.prepareBody()
	if !ok {
		return true
	}
	r.upBody = body

	t0 := time.Now()
	r.forwarded = true
	// The upstream's own response: its body streams when it is long
	// (upstream's transport), and takeResponse moves it into ctx.Response.
	up := fasthttp.AcquireResponse()
	res := pool.DoObserved(req, up, t0.Add(pool.Timeout()), r.traceUpstream(h))
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

// peerAddr is the socket peer's address, IPv4-mapped addresses unmapped.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	a, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return a.Unmap()
}

// normalizeResponse applies README.md "Upstream normalization" to the
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
	ct = httpsyntax.TrimOWS(ct)
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
