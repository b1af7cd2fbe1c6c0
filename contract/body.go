package contract

import (
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Problem is one contract error. It is a value built on the stack by the
// proxy; Write turns it into the response without allocating.
type Problem struct {
	Status int
	Code   string
	// Detail replaces the documented meaning with a more precise, safe
	// sentence; empty means the documented meaning.
	Detail string
	// RequestID is echoed as X-Request-Id and request_id.
	RequestID []byte
	// RetryAfter, in whole seconds, adds Retry-After and retry_after when > 0.
	RetryAfter int
	// Extra is pre-encoded JSON members appended to the object, without
	// the leading comma: `"acceptable":["application/json"]`.
	Extra []byte
}

// Options are the per-config settings of the body writer.
type Options struct {
	// TypeBase, when set, makes `type` = TypeBase + code (RFC 9457 §3.1.1);
	// without it `type` is omitted, which RFC 9457 reads as about:blank.
	TypeBase string
	// ProblemJSON selects application/problem+json as the Content-Type,
	// set when the request's Accept prefers it over application/json.
	ProblemJSON bool
	// Details are the [errors.details] overrides; nil for none.
	Details *Details
}

var (
	ctJSON        = []byte("application/json")
	ctProblemJSON = []byte("application/problem+json")
	hdrRequestID  = []byte("X-Request-Id")
	hdrRetry      = []byte("Retry-After")
	hdrCache      = []byte("Cache-Control")
	valNoStore    = []byte("no-store")
)

// Write sets status, the contract headers and the JSON body on resp. Other
// headers already on resp are kept (Allow, WWW-Authenticate, RateLimit…);
// the caller resets resp first when it replaces an upstream response. A
// status outside the set is a bug in the caller and is written as 500
// internal_error, so the contract holds even then.
func Write(resp *fasthttp.Response, p *Problem, o Options) {
	si := lookup(p.Status)
	if si == nil {
		p.Status, p.Code, p.Detail = StatusInternalServerError, CodeInternalError, ""
		si = lookup(p.Status)
	}
	resp.SetStatusCode(p.Status)
	if o.ProblemJSON {
		resp.Header.SetContentTypeBytes(ctProblemJSON)
	} else {
		resp.Header.SetContentTypeBytes(ctJSON)
	}
	resp.Header.SetBytesKV(hdrCache, valNoStore)
	resp.Header.SetBytesKV(hdrRequestID, p.RequestID)
	if p.RetryAfter > 0 {
		var num [20]byte
		resp.Header.SetBytesKV(hdrRetry, strconv.AppendInt(num[:0], int64(p.RetryAfter), 10))
	}
	// An operator's override wins; then the caller's precise sentence;
	// then the code's default; then the status's documented meaning.
	detail, ok := o.Details.lookup(p.Code)
	if !ok {
		if detail = p.Detail; detail == "" {
			detail = DefaultDetail(p.Code, p.Status)
		}
	}
	// Build the body on the stack; SetBody copies it into the response's
	// pooled buffer, so a typical error allocates nothing.
	var stack [1024]byte
	b := stack[:0]
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = append(b, `,"title":`...)
	b = AppendJSONString(b, si.title)
	b = append(b, `,"detail":`...)
	b = AppendJSONString(b, detail)
	b = append(b, `,"code":`...)
	b = AppendJSONString(b, p.Code)
	b = append(b, `,"request_id":`...)
	b = AppendJSONString(b, bytesToString(p.RequestID))
	if o.TypeBase != "" {
		b = append(b, `,"type":"`...)
		b = appendJSONStringContent(b, o.TypeBase)
		b = appendJSONStringContent(b, p.Code)
		b = append(b, '"')
	}
	if p.RetryAfter > 0 {
		b = append(b, `,"retry_after":`...)
		b = strconv.AppendInt(b, int64(p.RetryAfter), 10)
	}
	if len(p.Extra) > 0 {
		b = append(b, ',')
		b = append(b, p.Extra...)
	}
	b = append(b, '}')
	resp.SetBody(b)
}

// AppendJSONString appends s as a JSON string (RFC 8259 §7). Invalid UTF-8
// becomes U+FFFD so the body always parses.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONStringContent(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

func appendJSONStringContent(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			case c == '<' || c == '>' || c == '&':
				// Escaped like encoding/json, so a body sniffed as HTML
				// cannot carry markup.
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
