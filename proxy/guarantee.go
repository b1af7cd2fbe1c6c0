package proxy

// Response fields every client-facing answer of some statuses carries,
// whichever branch produced it (README.md "Upstream normalization", last
// paragraph): a 401 always has a WWW-Authenticate challenge (RFC 9110
// §11.6.1: "A server generating a 401 ... MUST send a WWW-Authenticate
// header field"), the upstream's when it sent one, else the gateway's; a
// 429 or 503 always has Retry-After (RFC 9110 §10.2.3), the upstream's
// when sent, else the gateway's default of one second.

var defaultRetryAfter = []byte("1")

// ensureChallengeAndRetry adds what is missing; it runs on every response.
func (r *request) ensureChallengeAndRetry() {
	h := &r.ctx.Response.Header
	switch h.StatusCode() {
	case 401:
		if len(h.PeekBytes(hdrWWWAuth)) == 0 {
			h.SetBytesKV(hdrWWWAuth, r.rt.challenge)
		}
	case 429, 503:
		if len(h.PeekBytes(hdrRetryAfter)) == 0 {
			h.SetBytesKV(hdrRetryAfter, defaultRetryAfter)
		}
	}
}
