package idempotency

import (
	"encoding/binary"
	"errors"
)

// StoredHeaders are the response fields worth storing for a replay: those
// that describe the stored representation or the result of the request. It
// is an allow list, so a field nobody thought about is not replayed.
//
// Deliberately absent:
//   - hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE,
//     Trailer, Transfer-Encoding, Upgrade; RFC 9110 §7.6.1) and
//     Content-Length, which the writer derives from the body;
//   - Date, which is the origination time of each message (RFC 9110 §6.6.1);
//   - Set-Cookie: cookies are state of the first exchange (a session may
//     have rotated since), and an address-scoped key may be replayed to
//     another client behind the same address;
//   - fields the gateway adds per request, which a replay gets fresh:
//     RateLimit, RateLimit-Policy and X-RateLimit-* (README.md), X-Request-Id,
//     Idempotent-Replayed, Deprecation, Sunset, Server, Via.
//
// Store the response as the client got it (after normalization) but before
// the gateway's per-request fields were added, or a stored Link would
// duplicate the route's sunset Link on replay.
var StoredHeaders = []string{
	"Content-Type",
	"Content-Encoding", // the stored body bytes are meaningless without it
	"Content-Language",
	"Content-Location",
	"Content-Disposition",
	"Location", // 201 Created
	"ETag",
	"Last-Modified",
	"Link",
	"Cache-Control",
	"Expires",
	"Retry-After",      // a replayed 429/503 still says when to retry
	"WWW-Authenticate", // every 401 carries a challenge (RFC 9110 §11.6.1)
	"Allow",            // every 405 carries Allow (RFC 9110 §15.5.6)
}

// IsStoredHeader reports whether name (any case) is in StoredHeaders.
func IsStoredHeader(name []byte) bool {
	for _, h := range StoredHeaders {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// A stored response is one byte slice, so that keeping it costs one
// allocation: status (2 bytes, big endian), header count (uvarint), each
// header as uvarint length + name + uvarint length + value, then the body.
// A replay decodes it into a Response whose slices alias the record, which
// is never modified.

func encodedSize(r *Response) int {
	n := 2 + uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Name))) + len(h.Name) + uvarintLen(uint64(len(h.Value))) + len(h.Value)
	}
	return n + len(r.Body)
}

func encodeResponse(r *Response) []byte {
	return appendResponse(make([]byte, 0, encodedSize(r)), r)
}

var errCorruptRecord = errors.New("idempotency: corrupt stored response")

// replayed holds a decoded Response and room for its usual few headers, so a
// replay costs one allocation.
type replayed struct {
	r Response
	h [6]Header
}

func decodeResponse(b []byte) (*Response, error) {
	if len(b) < 3 {
		return nil, errCorruptRecord
	}
	d := &replayed{}
	d.r.Status = int(binary.BigEndian.Uint16(b))
	b = b[2:]
	nh, k := binary.Uvarint(b)
	if k <= 0 || nh > uint64(len(b)) {
		return nil, errCorruptRecord
	}
	b = b[k:]
	if nh <= uint64(len(d.h)) {
		d.r.Headers = d.h[:0:nh]
	} else {
		d.r.Headers = make([]Header, 0, nh)
	}
	for range nh {
		var h Header
		var ok bool
		if h.Name, b, ok = lengthPrefixed(b); !ok {
			return nil, errCorruptRecord
		}
		if h.Value, b, ok = lengthPrefixed(b); !ok {
			return nil, errCorruptRecord
		}
		d.r.Headers = append(d.r.Headers, h)
	}
	d.r.Body = b[:len(b):len(b)]
	return &d.r, nil
}

func lengthPrefixed(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	b = b[k:]
	return b[:n:n], b[n:], true
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
