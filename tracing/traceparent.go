package tracing

import (
	"encoding/hex"
	"math/rand/v2"
)

// Parent is a parsed W3C traceparent (Trace Context §3.2).
type Parent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// Sampled reports the sampled flag (Trace Context §3.2.2.5).
func (p Parent) Sampled() bool { return p.Flags&1 == 1 }

// TraceparentLen is the length of a version-00 traceparent value.
const TraceparentLen = 55

// ParseTraceparent reads a traceparent value: version 00 exactly
// (version-format = 2HEXDIGLC "-" 32HEXDIGLC "-" 16HEXDIGLC "-" 2HEXDIGLC),
// or a later version's first four fields (§4.3: a higher version is
// parsed as 00 and may have more fields after a "-"). An all-zero trace id
// or parent id, version ff, or upper-case hex is invalid (§3.2.2).
func ParseTraceparent(v []byte) (Parent, bool) {
	var p Parent
	if len(v) < TraceparentLen || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return p, false
	}
	var ver [1]byte
	if !lowerHex(ver[:], v[0:2]) || ver[0] == 0xff {
		return p, false
	}
	if (ver[0] == 0 && len(v) != TraceparentLen) || (ver[0] > 0 && len(v) > TraceparentLen && v[TraceparentLen] != '-') {
		return p, false
	}
	var fl [1]byte
	if !lowerHex(p.TraceID[:], v[3:35]) || !lowerHex(p.SpanID[:], v[36:52]) || !lowerHex(fl[:], v[53:55]) {
		return p, false
	}
	if p.TraceID == ([16]byte{}) || p.SpanID == ([8]byte{}) {
		return p, false
	}
	p.Flags = fl[0]
	return p, true
}

func lowerHex(dst, src []byte) bool {
	for _, c := range src {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, src)
	return err == nil
}

// AppendTraceparent appends a version-00 traceparent. Only the sampled
// flag is kept from flags: the others are reserved in version 00.
func AppendTraceparent(dst []byte, traceID [16]byte, spanID [8]byte, flags byte) []byte {
	var b [TraceparentLen]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], traceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], spanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{flags & 1})
	return append(dst, b[:]...)
}

// NewSpanID is a random non-zero span id (§3.2.2.4).
func NewSpanID() [8]byte {
	var id [8]byte
	for id == ([8]byte{}) {
		x := rand.Uint64()
		for i := range id {
			id[i] = byte(x >> (8 * i))
		}
	}
	return id
}

// AppendTraceID appends the trace id in lower-case hex (for logs).
func AppendTraceID(dst []byte, id [16]byte) []byte {
	return hex.AppendEncode(dst, id[:])
}
