package limiter

import "strconv"

// The RateLimit header fields of draft-ietf-httpapi-ratelimit-headers-10,
// as Structured Field Lists (RFC 8941 §3.1) of Strings with parameters.
// Every function appends to dst and allocates only when dst must grow.

// AppendPolicyField appends the RateLimit-Policy value for policies, one
// item per policy in the route's order:
//
//	"<name>";q=<burst>;w=<max(1, ceil(burst / rate))>
//
// NewRoute precomputes it; see Route.PolicyField.
func AppendPolicyField(dst []byte, policies []*Policy) []byte {
	for i, p := range policies {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = appendSFString(dst, p.Name)
		dst = append(dst, ";q="...)
		dst = appendSFInt(dst, int64(p.Burst))
		dst = append(dst, ";w="...)
		dst = appendSFInt(dst, p.window())
	}
	return dst
}

// AppendRateLimit appends the RateLimit value for the policy with the
// fewest whole tokens left (Decision.Item):
//
//	"<name>";r=<remaining>;t=<seconds>
//
// There is no pk parameter: it would disclose the client's key. Nothing is
// appended when no policy was checked.
func (d *Decision) AppendRateLimit(dst []byte) []byte {
	it, ok := d.Item()
	if !ok {
		return dst
	}
	dst = appendSFString(dst, it.Policy.Name)
	dst = append(dst, ";r="...)
	dst = appendSFInt(dst, it.Remaining)
	dst = append(dst, ";t="...)
	return appendSFInt(dst, it.Reset)
}

// AppendRetryAfter appends the Retry-After delay-seconds (RFC 9110
// §10.2.3) of a refused request.
func (d *Decision) AppendRetryAfter(dst []byte) []byte {
	return strconv.AppendInt(dst, d.RetryAfter(), 10)
}

// Legacy reports whether the X-RateLimit-* fields are to be sent: when the
// policy that the RateLimit item names has legacy_headers = true.
func (d *Decision) Legacy() bool {
	it, ok := d.Item()
	return ok && it.Policy.Legacy
}

// AppendLegacyLimit appends X-RateLimit-Limit (= q of the RateLimit item's policy).
func (d *Decision) AppendLegacyLimit(dst []byte) []byte {
	it, _ := d.Item()
	return appendSFInt(dst, it.Quota)
}

// AppendLegacyRemaining appends X-RateLimit-Remaining (= r).
func (d *Decision) AppendLegacyRemaining(dst []byte) []byte {
	it, _ := d.Item()
	return appendSFInt(dst, it.Remaining)
}

// AppendLegacyReset appends X-RateLimit-Reset (= t, seconds from now).
func (d *Decision) AppendLegacyReset(dst []byte) []byte {
	it, _ := d.Item()
	return appendSFInt(dst, it.Reset)
}

// appendSFString appends s as an RFC 8941 §3.3.3 String: quoted, with "
// and \ escaped. checkName has already refused non-printable bytes.
func appendSFString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// appendSFInt appends n clamped to the RFC 8941 §3.3.1 Integer range
// (non-negative here).
func appendSFInt(dst []byte, n int64) []byte {
	return strconv.AppendInt(dst, min(max(n, 0), maxSFInteger), 10)
}
