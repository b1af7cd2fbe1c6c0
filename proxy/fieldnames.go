package proxy

import "github.com/valyala/fasthttp"

// Field names are case-insensitive (RFC 9110 §5.1), but clients, logs and
// documentation compare them as the defining documents spell them, and
// fasthttp stores names normalized (Ratelimit-Policy, Www-Authenticate).
// respellFieldNames is the last step of every response: each field below
// that is present goes out spelled as README.md and its RFC or draft
// spell it. Everything before it reads the normalized names, so it must
// run after the last lookup.
//
// spelled pairs each spelling with its fasthttp-normalized form; only
// names whose normalized form differs are listed.
var spelled = [...]struct{ wire, norm string }{
	{"WWW-Authenticate", "Www-Authenticate"},   // RFC 9110 §11.6.1
	{"RateLimit", "Ratelimit"},                 // draft-ietf-httpapi-ratelimit-headers
	{"RateLimit-Policy", "Ratelimit-Policy"},   // draft-ietf-httpapi-ratelimit-headers
	{"X-RateLimit-Limit", "X-Ratelimit-Limit"}, // the de facto legacy fields
	{"X-RateLimit-Remaining", "X-Ratelimit-Remaining"},
	{"X-RateLimit-Reset", "X-Ratelimit-Reset"},
	{"ETag", "Etag"},               // RFC 9110 §8.8.3
	{"Content-MD5", "Content-Md5"}, // RFC 1864
	{"Accept-CH", "Accept-Ch"},     // RFC 8942
	{"NEL", "Nel"},                 // W3C Network Error Logging
	{"DPoP-Nonce", "Dpop-Nonce"},   // RFC 9449 §8
	{"X-XSS-Protection", "X-Xss-Protection"},
	{"X-UA-Compatible", "X-Ua-Compatible"},
	{"X-DNS-Prefetch-Control", "X-Dns-Prefetch-Control"},
}

// respellFieldNames rewrites the names of the fields in spelled. A response
// without any of them costs one pass over its names and no allocation.
func respellFieldNames(h *fasthttp.ResponseHeader) {
	var found uint32
	for k := range h.All() {
		for i := range spelled {
			if len(k) == len(spelled[i].norm) && string(k) == spelled[i].norm {
				found |= 1 << i
			}
		}
	}
	if found == 0 {
		return
	}
	// Copy the values out, delete the normalized fields, then add them
	// back under their spelling with normalization off for the moment
	// (SetCanonical would replace only one line of a repeated field).
	var buf [2048]byte
	var ends [32]int
	var which [32]uint8
	vals, n := buf[:0], 0
	for i := range spelled {
		if found&(1<<i) == 0 {
			continue
		}
		for _, v := range h.PeekAll(spelled[i].norm) {
			if n == len(ends) {
				break
			}
			vals = append(vals, v...)
			ends[n], which[n] = len(vals), uint8(i)
			n++
		}
	}
	// Deleting reorders the remaining fields (fasthttp swaps in the last
	// one), so every value is copied out before the first delete.
	for i := range spelled {
		if found&(1<<i) != 0 {
			h.Del(spelled[i].norm)
		}
	}
	prev := h.DisableNormalizing()
	start := 0
	for j := range n {
		h.AddBytesV(spelled[which[j]].wire, vals[start:ends[j]])
		start = ends[j]
	}
	if !prev {
		h.EnableNormalizing()
	}
}
