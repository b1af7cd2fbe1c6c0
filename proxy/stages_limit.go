package proxy

import (
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/limiter"
)

var (
	hdrXRLLimit     = []byte("X-RateLimit-Limit")
	hdrXRLRemaining = []byte("X-RateLimit-Remaining")
	hdrXRLReset     = []byte("X-RateLimit-Reset")
)

// checkLimitsPre is stage 6: the route's policies keyed by client address
// or client certificate, before authentication, so token guessing is
// throttled.
func (r *request) checkLimitsPre() bool {
	rl := r.route.limits
	if rl == nil {
		return true
	}
	r.limSubject = limiter.Subject{Addr: r.clientAddr(), Header: &r.ctx.Request.Header}
	if r.ctx.IsTLS() {
		r.limSubject.ClientCert = stringBytes(r.clientCertSubject())
	}
	r.limChecked = true
	return r.g.lim.Check(r.start, rl, limiter.PreAuth, &r.limSubject, &r.limDecision) || r.refuseLimited()
}

// checkLimitsPost is stage 8: the policies keyed by token, header or
// route. On a route without auth, a token policy still counts a valid
// token by its id; requests without one are counted by client address.
func (r *request) checkLimitsPost() bool {
	rl := r.route.limits
	if rl == nil {
		return true
	}
	switch {
	case r.identity != nil:
		r.limSubject.Token = stringBytes(r.identity.ID)
	case r.rt.tokens != nil || r.rt.jwt != nil:
		if id, _ := r.bearer(); id != nil {
			r.limSubject.Token = stringBytes(id.ID)
		}
	}
	return r.g.lim.Check(r.start, rl, limiter.PostAuth, &r.limSubject, &r.limDecision) || r.refuseLimited()
}

func (r *request) refuseLimited() bool {
	if o := r.g.limitObserver; o != nil {
		if p := r.limDecision.Refusing(); p != nil {
			o.RateLimitRejected(p.Name)
		}
	}
	r.fail(contract.StatusTooManyRequests, contract.CodeRateLimited, "", int(r.limDecision.RetryAfter()))
	return false
}

// rateLimitHeaders adds the IETF RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers-10) to every response of a
// limited route, after any the upstream sent: an intermediary may tighten,
// never loosen, so the upstream's items stay.
//
// A response that was decided before any policy was checked (405, 406,
// maintenance) took no token: it carries the policies but no RateLimit
// item, since there is no count to report for it.
func (r *request) rateLimitHeaders() {
	if r.route == nil || r.route.limits == nil {
		return
	}
	h := &r.ctx.Response.Header
	h.AddBytesKV(hdrRLPolicy, r.route.limits.PolicyField())
	if !r.limChecked {
		return
	}
	var buf [128]byte
	h.AddBytesKV(hdrRateLimit, r.limDecision.AppendRateLimit(buf[:0]))
	if r.limDecision.Legacy() {
		h.SetBytesKV(hdrXRLLimit, r.limDecision.AppendLegacyLimit(buf[:0]))
		h.SetBytesKV(hdrXRLRemaining, r.limDecision.AppendLegacyRemaining(buf[:0]))
		h.SetBytesKV(hdrXRLReset, r.limDecision.AppendLegacyReset(buf[:0]))
	}
}
