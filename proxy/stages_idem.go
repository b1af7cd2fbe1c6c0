package proxy

import (
	"crypto/sha256"
	"errors"
	"time"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/upstream"
)

var hdrReplayed = []byte("Idempotent-Replayed")

// checkIdempotency is stage 10 (README.md "Idempotency"): on a route
// where it is on and for the configured methods, the Idempotency-Key must
// be valid (400), present when required (400), and unclaimed (409), or it
// replays (or 422) in replay mode. A store that cannot record the claim
// answers 503 rather than forwarding an unprotected request.
func (r *request) checkIdempotency() bool {
	rt := r.route
	h := &r.ctx.Request.Header
	if !rt.cfg.Idempotency || !r.rt.idemMethod(h.Method()) {
		return true
	}
	key, err := idempotency.ParseKey(h.PeekAll(idempotency.HeaderName))
	switch {
	case errors.Is(err, idempotency.ErrMissingKey):
		if rt.cfg.RequireIdempotencyKey {
			r.fail(contract.StatusBadRequest, contract.CodeIdempotencyKeyRequired, "This endpoint requires an Idempotency-Key header", 0)
			return false
		}
		return true
	case err != nil:
		r.fail(contract.StatusBadRequest, contract.CodeInvalidIdempotencyKey, "The Idempotency-Key header must be one key of 1 to 255 printable ASCII characters", 0)
		return false
	}
	// The scope outlives this stage inside the lease, and the store may
	// keep it: one allocation, on idempotent requests only. Its spare
	// capacity then holds the copy of the path that the fingerprint hash
	// needs (its inputs escape), so the request state stays on the stack.
	// The fingerprint hashes the body: it is read whole (README "Streaming").
	if !r.readWholeBody() {
		return false
	}
	path := r.normPath()
	org := h.Peek("X-Org-Token")
	buf := make([]byte, 0, 160+len(key)+len(org)+len(rt.name)+len(path))
	var scope []byte
	switch authz := h.PeekAll("Authorization"); {
	case r.identity != nil:
		scope = idempotency.AppendScope(buf, idempotency.CredentialToken, r.identity.ID, org, h.Method(), rt.name, key)
	case len(authz) > 0:
		// A route without gateway auth whose client authenticates with the
		// upstream: its keys are its own, not its address's.
		d := sha256.New()
		for _, v := range authz {
			d.Write(v)
			d.Write([]byte{0})
		}
		var sum [sha256.Size]byte
		scope = idempotency.AppendScope(buf, idempotency.CredentialAuthorization, d.Sum(sum[:0]), org, h.Method(), rt.name, key)
	default:
		var ab [64]byte
		addr := r.clientAddr().AppendTo(ab[:0])
		scope = idempotency.AppendScope(buf, idempotency.CredentialAddress, addr, org, h.Method(), rt.name, key)
	}
	pathCopy := append(scope[len(scope):len(scope):cap(scope)], path...)
	fp := idempotency.NewFingerprint(h.Method(), pathCopy, r.query, r.ctx.Request.Body())
	sctx, cancel := r.g.storeContext()
	res, err := r.g.idem.Claim(sctx, r.start, scope, fp)
	cancel()
	if err != nil {
		// Once a second at most: a full or unreachable store refuses every
		// keyed request, and each is already counted (code store_unavailable).
		if r.g.storeErrLog.allow(r.start) {
			r.g.log.Error("idempotency store refused a claim", "request_id", string(r.reqID()), "error", err.Error())
		}
		r.fail(contract.StatusServiceUnavailable, contract.CodeStoreUnavailable, "The gateway cannot record this Idempotency-Key right now", 1)
		return false
	}
	switch idempotency.Decide(r.rt.idemMode, res) {
	case idempotency.Forward:
		r.lease, r.claimed = res.Lease, true
		return true
	case idempotency.Replay:
		r.replay(res.Response)
	case idempotency.OverQuota:
		r.fail(contract.StatusTooManyRequests, contract.CodeIdempotencyQuotaExceeded, "You hold too many live Idempotency-Keys; retry when one expires", retrySeconds(res.RetryAfter))
	case idempotency.ConflictInFlight:
		r.fail(contract.StatusConflict, contract.CodeIdempotencyKeyInFlight, "A request with this Idempotency-Key is still being processed", 0)
	case idempotency.Mismatch:
		r.fail(contract.StatusUnprocessableEntity, contract.CodeIdempotencyKeyMismatch, "This Idempotency-Key was used for a different request", 0)
	default:
		r.fail(contract.StatusConflict, contract.CodeIdempotencyKeyReused, "", 0)
	}
	return false
}

// replay answers with a stored response; headers already set for this
// request (fresh RateLimit fields) stay.
func (r *request) replay(resp *idempotency.Response) {
	out := &r.ctx.Response
	out.SetStatusCode(resp.Status)
	for _, hd := range resp.Headers {
		out.Header.SetBytesKV(hd.Name, hd.Value)
	}
	out.Header.SetBytesKV(hdrReplayed, []byte("true"))
	out.SetBody(resp.Body)
	r.status, r.code = resp.Status, "idempotent_replay"
}

// settleClaim records the outcome of a claimed request (README.md
// outcome rules): never reached → released, so a retry may go through;
// answered → stored; unknown (timeout, reset) → kept until ttl, so a retry
// cannot execute twice.
func (r *request) settleClaim(outcome upstream.Outcome) {
	if !r.claimed {
		return
	}
	r.claimed = false
	// A fresh deadline: the claim's has passed while the upstream worked.
	ctx, cancel := r.g.storeContext()
	defer cancel()
	var err error
	switch {
	case outcome == upstream.OK:
		resp := &r.ctx.Response
		rec := idempotency.Response{Status: resp.StatusCode()}
		if r.streamed {
			// A streamed body is not in memory; past max_stored_response
			// the record keeps status and headers only, and a replay is 409.
			rec.Unstored = r.unstored
		} else {
			rec.Body = resp.Body()
		}
		var hs [16]idempotency.Header
		rec.Headers = hs[:0]
		for k, v := range resp.Header.All() {
			if len(rec.Headers) < len(hs) && idempotency.IsStoredHeader(k) {
				rec.Headers = append(rec.Headers, idempotency.Header{Name: k, Value: v})
			}
		}
		err = r.g.idem.Complete(ctx, r.g.now(), r.lease, &rec)
	case !outcome.Reached():
		err = r.g.idem.Release(ctx, r.lease)
	default:
		err = r.g.idem.Abandon(ctx, r.g.now(), r.lease)
	}
	if err != nil {
		r.g.log.Warn("idempotency outcome not recorded", "request_id", string(r.reqID()), "error", err.Error())
	}
}

// retrySeconds is d in whole seconds, rounded up, at least 1 (Retry-After,
// RFC 9110 §10.2.3).
func retrySeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}
