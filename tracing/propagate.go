package tracing

import "github.com/valyala/fasthttp"

var (
	hdrTraceparent = []byte("traceparent")
	hdrTracestate  = []byte("tracestate")
)

// FromRequest reads the client's traceparent. More than one traceparent
// field, or an invalid one, counts as none (Trace Context §3.2: the
// vendor then starts a new trace).
func FromRequest(h *fasthttp.RequestHeader) (Parent, bool) {
	var p Parent
	n, ok := 0, false
	for _, v := range h.PeekAll("Traceparent") {
		n++
		p, ok = ParseTraceparent(v)
	}
	return p, ok && n == 1
}

// TraceState is the client's tracestate value ("" for none).
func TraceState(h *fasthttp.RequestHeader) []byte { return h.PeekBytes(hdrTracestate) }

// Continue sets the traceparent of a request forwarded without spans: the
// client's trace id and sampled flag, with a new parent id for the
// gateway's hop. tracestate stays as the client sent it. It allocates
// nothing.
func Continue(h *fasthttp.RequestHeader, p Parent) {
	var b [TraceparentLen]byte
	h.SetBytesKV(hdrTraceparent, AppendTraceparent(b[:0], p.TraceID, NewSpanID(), p.Flags))
}

// Drop removes an invalid or repeated traceparent (and its tracestate,
// which means nothing without it), so the upstream does not join a trace
// the gateway did not continue (Trace Context §3.3.1).
func Drop(h *fasthttp.RequestHeader) {
	h.DelBytes(hdrTraceparent)
	h.DelBytes(hdrTracestate)
}
