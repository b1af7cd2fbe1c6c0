package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

// Strict reading of the request head (README.md "Order of checks", step
// 1). fasthttp accepts some heads that RFC 9112 says a server must refuse,
// and forwards what it accepted; the checks here read the head as it came
// off the wire (RequestHeader.RawHeaders: the field lines after the request
// line, exactly as received) and refuse:
//
//   - a field name that is not a token (RFC 9110 §5.1, §5.6.2), whitespace
//     inside it or before the colon included (RFC 9112 §5.1: "No whitespace
//     is allowed between the field name and colon ... a server MUST reject
//     ... with a 400");
//   - a line that ends in a bare LF (RFC 9112 §2.2 allows a recipient to
//     accept it; two parsers that disagree on line ends are how requests
//     are smuggled, so the gateway does not); the request line itself is
//     not in RawHeaders and is checked by the connection (reqline.go);
//   - obsolete line folding (RFC 9112 §5.2 lets a server reject it with 400);
//   - a CR or NUL inside a field value (RFC 9110 §5.5: reject or replace).
//
// Connection options (RFC 9110 §7.6.1): every field a Connection header
// names is removed here, before any later check reads a header, so a check
// and the upstream always see the same fields. A Connection header that
// names a field the gateway itself judges, or more than maxConnectionNames
// fields, is refused: a client has no business hiding those from the hop
// after the gateway.

// headProblem says what is wrong with a raw head; headOK when nothing is.
type headProblem uint8

const (
	headOK headProblem = iota
	headBareLF
	headBadFieldName
	headObsFold
	headConnectionJudged
	headConnectionTooMany
	headBadFieldValue
)

func (p headProblem) detail() string {
	switch p {
	case headBareLF:
		return "A header line ends in a bare LF; lines must end in CRLF"
	case headBadFieldName:
		return "A header field name is not a valid token"
	case headObsFold:
		return "Folded header lines are not accepted"
	case headConnectionJudged:
		return "The Connection header names a field the gateway needs"
	case headConnectionTooMany:
		return "The Connection header names too many fields"
	case headBadFieldValue:
		return "A header field value contains a CR or NUL"
	}
	return ""
}

// maxConnectionNames bounds the options one request's Connection header
// may name (README.md: more than 32 is 400).
const maxConnectionNames = 32

// checkHead validates the raw field lines of a request head (see above),
// and returns the set of hop-by-hop fields among its lines (hopFields,
// Connection included), which dropConnectionOptions removes. It does not
// allocate.
func checkHead(raw []byte) (p headProblem, hop hopSet) {
	names := 0
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			// fasthttp hands over complete heads; a tail without a line
			// end is not one.
			return headBareLF, hop
		}
		line := raw[:i]
		raw = raw[i+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return headBareLF, hop
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return headOK, hop // the empty line that ends the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return headObsFold, hop
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 || !httpsyntax.IsToken(line[:c]) {
			return headBadFieldName, hop
		}
		// RFC 9110 §5.5: a recipient of CR, LF or NUL within a field value
		// must reject the message or replace them; a CR that does not end
		// the line is read as a line end by some parsers, so refused.
		if v := line[c+1:]; bytes.IndexByte(v, '\r') >= 0 || bytes.IndexByte(v, 0) >= 0 {
			return headBadFieldValue, hop
		}
		hop |= hopBit(line[:c])
		if c == len("connection") && bytes.EqualFold(line[:c], []byte("connection")) {
			for v := line[c+1:]; len(v) > 0; {
				var tok []byte
				tok, v = nextListItem(v)
				if len(tok) == 0 {
					continue
				}
				if names++; names > maxConnectionNames {
					return headConnectionTooMany, hop
				}
				if isJudgedField(tok) {
					return headConnectionJudged, hop
				}
			}
		}
	}
	return headOK, hop
}

// nextListItem splits the first item off a comma-separated list (RFC 9110
// §5.6.1), trimmed of optional whitespace.
func nextListItem(v []byte) (item, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		item, rest = v[:i], v[i+1:]
	} else {
		item = v
	}
	return httpsyntax.TrimOWS(item), rest
}

// judgedFields are the request fields some check of the gateway reads, or
// that it sets itself: a Connection header may not name them.
var judgedFields = [...]string{
	"host", "content-length", "content-type", "authorization", "accept",
	"idempotency-key", "x-org-token", "x-request-id",
	"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip",
	"x-consumer-id", "x-client-cert-subject", "forwarded",
}

func isJudgedField(name []byte) bool {
	for _, f := range judgedFields {
		if len(f) == len(name) && bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}

// hopFields are the connection-specific fields a proxy must not forward
// (RFC 9110 §7.6.1, as net/http/httputil's reverse proxy lists them), plus
// HTTP2-Settings (RFC 9113 §3.2.1) and Proxy-Connection (never standard,
// still sent by old clients).
var hopFields = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Http2-Settings",
}

// hopSet is a set of hopFields, bit i for hopFields[i].
type hopSet uint16

const (
	hopConnection hopSet = 1 << 0 // hopFields[0]
	hopUpgrade    hopSet = 1 << 8 // hopFields[8]
)

// hopBit is name's bit in a hopSet, in any case; 0 when name is not a
// hop-by-hop field.
func hopBit(name []byte) hopSet {
	for i, f := range hopFields {
		if len(f) == len(name) && bytes.EqualFold(name, []byte(f)) {
			return 1 << i
		}
	}
	return 0
}

// dropConnectionOptions removes from h every field the Connection header
// names and every hop-by-hop field, except Connection and Upgrade
// themselves when keepConnection: an upgrade is decided by the route, and
// forward removes them where the route does not upgrade. present is the
// set of hop-by-hop fields the head has (checkHead): only those are looked
// up. There is no limit on how many names or lines are removed.
func dropConnectionOptions(h *fasthttp.RequestHeader, keepConnection bool, present hopSet) {
	if present&hopConnection != 0 {
		var stack [256]byte
		for names := namedOptions(stack[:0], h.PeekAll(fasthttp.HeaderConnection), keepConnection); len(names) > 0; {
			var name []byte
			name, names = nextListItem(names)
			h.DelBytes(name)
		}
	}
	if keepConnection {
		present &^= hopConnection | hopUpgrade
	}
	for i, name := range hopFields {
		if present&(1<<i) != 0 {
			h.Del(name)
		}
	}
}

// dropResponseHopHeaders removes the hop-by-hop fields of an upstream
// response and every field its Connection header names (RFC 9110 §7.6.1).
// One pass over the names finds which hop-by-hop fields are present (most
// responses have none, or only Connection: keep-alive), and only those are
// looked up. Connection: close is visited too, so the flag it sets is
// cleared with the field.
func dropResponseHopHeaders(h *fasthttp.ResponseHeader) {
	var present hopSet
	for k := range h.All() {
		present |= hopBit(k)
	}
	if present&hopConnection != 0 {
		var stack [256]byte
		for names := namedOptions(stack[:0], h.PeekAll(fasthttp.HeaderConnection), false); len(names) > 0; {
			var name []byte
			name, names = nextListItem(names)
			h.DelBytes(name)
		}
	}
	for i, name := range hopFields {
		if present&(1<<i) != 0 {
			h.Del(name)
		}
	}
}

// namedOptions appends to dst, comma-separated, the field names that the
// Connection values vals name, except hop-by-hop names (removed with the
// others, when present) and, with keepClose, the "close" option. The
// names are copied: deleting a field moves the header's storage under the
// slices PeekAll returned.
func namedOptions(dst []byte, vals [][]byte, keepClose bool) []byte {
	for _, v := range vals {
		for len(v) > 0 {
			var tok []byte
			tok, v = nextListItem(v)
			if len(tok) == 0 || hopBit(tok) != 0 || (keepClose && bytes.EqualFold(tok, []byte("close"))) {
				continue
			}
			dst = append(dst, tok...)
			dst = append(dst, ',')
		}
	}
	return dst
}
