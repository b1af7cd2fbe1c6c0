package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// The line end of the request line (README.md "Security notes"; order of
// checks, step 1: a bare LF used as a line end is 400). fasthttp accepts a
// request line that ends in a bare LF and keeps no raw copy of it, and
// checkHead (message.go) sees only the field lines. So the listener's
// connection wrapper (conns.go) watches the bytes it hands to fasthttp and
// checks the first line of every request at the offset where that request
// starts:
//
//   - the first request of a connection starts at offset 0;
//   - the next one starts right after this one: where the request line's LF
//     is, plus the field lines as received (RawHeaders), plus the body's
//     Content-Length (0 without a body). The handler tells the wrapper at
//     the start of each request, before the body is read.
//
// From that offset the wrapper skips the empty lines RFC 9112 §2.2 lets a
// server ignore before a request line, and finds the LF that ends the
// request line; the request is bad when that LF (or the LF of a skipped
// empty line, or of an empty field section right after the request line)
// has no CR before it. Only the first line of a request is scanned, never
// a body, so a body holding "GET / HTTP/1.1\n" is never mistaken for a
// request line, and the cost is a few bytes per request.
//
// Bytes that arrive after a request's head but before its handler runs
// (a body's first bytes, or the next requests of a client that pipelines,
// RFC 9112 §9.3.2) are kept, up to maxKeep, so that the next request's
// line can still be checked once its offset is known. Where the next
// request's start cannot be known, nothing unchecked is served: the
// response carries Connection: close and the connection ends after it.
// That happens after a chunked request (the size of its framing on the
// wire is not known), and when more than maxKeep bytes came after a head
// before its handler ran and the next request starts past them.

// lineVerdict is what the wrapper found about one request's line ends.
type lineVerdict uint8

const (
	// lineOK: checked, CRLF; the connection follows the next request.
	lineOK lineVerdict = iota
	// lineBareLF: the request line (or an empty line around it) ends in a
	// bare LF → 400 malformed_request, then close.
	lineBareLF
	// lineUnchecked: the line could not be checked, or the next request's
	// start is not known: the connection closes after this response.
	lineUnchecked
	// lineUntracked: the connection is not one of the gateway's listener
	// (in-process tests and benchmarks); nothing to do.
	lineUntracked
)

// Scanner states of lineTracker.
const (
	lineSeek  uint8 = iota // from next: skipping empty lines, then the request line
	lineAfter              // found the request line's LF; the next byte decides
	lineHead               // in the field lines, looking for the empty line ending the head
	lineDone               // verdict ready for the handler; later bytes are kept
	lineLost               // next request's start unknown: nothing is scanned
)

// maxKeep bounds the bytes kept between a head's end and its handler's
// take (see above): enough for a few pipelined requests.
const maxKeep = 2048

// lineTracker follows the request lines of one client connection. It is
// used by the goroutine that serves the connection (fasthttp reads the
// connection and runs the handler on the same goroutine), and after a
// hijack by the goroutine that owns the connection then.
type lineTracker struct {
	read    int64 // bytes read from the connection so far
	next    int64 // offset where the request being scanned starts
	lineEnd int64 // offset of its request line's LF
	lineLen int64 // bytes of the current line seen before its LF
	state   uint8
	prevCR  bool // the last byte scanned was CR
	bad     bool

	// keep holds bytes read after the head, from offset keepFrom, while
	// the state is lineDone; allocated at the first need.
	keep     []byte
	keepFrom int64
}

// observe scans b, the next bytes read from the connection.
func (t *lineTracker) observe(b []byte) {
	if len(b) == 0 {
		return
	}
	start := t.read
	t.read += int64(len(b))
	t.scan(b, start)
}

// scan follows the bytes b, which start at offset start.
func (t *lineTracker) scan(b []byte, start int64) {
	if t.state == lineDone {
		t.retain(b, start)
		return
	}
	if t.state == lineLost || start+int64(len(b)) <= t.next {
		return
	}
	if t.next > start {
		b = b[t.next-start:]
		start = t.next
	}
	if t.state == lineSeek {
		for {
			if len(b) == 0 {
				return
			}
			i, n, cr := t.endOfLine(b)
			if i < 0 {
				return
			}
			if n == 1 && cr {
				// An empty line (CRLF) before the request line: fasthttp
				// skips it, as RFC 9112 §2.2 allows.
				b, start = b[i+1:], start+int64(i)+1
				continue
			}
			// The request line, or an empty line ending in a bare LF
			// (n == 0), which is as bad.
			t.lineEnd, t.bad = start+int64(i), !cr
			t.state = lineAfter
			b, start = b[i+1:], start+int64(i)+1
			if t.bad {
				t.state = lineDone
				return
			}
			break
		}
	}
	if t.state == lineAfter {
		if len(b) == 0 {
			return
		}
		// A LF right after the request line would be an empty field
		// section ended by a bare LF, which checkHead cannot see
		// (RawHeaders is empty then). fasthttp refuses that head itself
		// today; it is checked here so that take never relies on it.
		if b[0] == '\n' {
			t.bad, t.state = true, lineDone
			return
		}
		t.state = lineHead
	}
	// lineHead: find the empty line that ends the head; what follows it
	// is kept until take.
	for len(b) > 0 {
		i, n, cr := t.endOfLine(b)
		if i < 0 {
			return
		}
		empty := n == 0 || n == 1 && cr
		b, start = b[i+1:], start+int64(i)+1
		if empty {
			t.state = lineDone
			t.keep, t.keepFrom = t.keep[:0], start
			t.retain(b, start)
			return
		}
	}
}

// endOfLine finds the LF that ends the current line in b, which continues
// the bytes scanned before: i is its index in b (-1 when b ends first, and
// then b is counted into the line), n the line's length before the LF
// across reads, cr whether a CR comes right before the LF.
func (t *lineTracker) endOfLine(b []byte) (i int, n int64, cr bool) {
	i = bytes.IndexByte(b, '\n')
	if i < 0 {
		t.lineLen += int64(len(b))
		t.prevCR = b[len(b)-1] == '\r'
		return -1, 0, false
	}
	cr = i > 0 && b[i-1] == '\r' || i == 0 && t.prevCR
	n = t.lineLen + int64(i)
	t.lineLen, t.prevCR = 0, false
	return i, n, cr
}

// retain keeps what fits of b (at offset start), if it continues what is
// kept: take finds a gap as kept bytes ending before what was read.
func (t *lineTracker) retain(b []byte, start int64) {
	room := maxKeep - len(t.keep)
	if len(b) == 0 || room == 0 || t.keepFrom+int64(len(t.keep)) != start {
		return
	}
	if t.keep == nil {
		t.keep = make([]byte, 0, maxKeep)
	}
	t.keep = append(t.keep, b[:min(len(b), room)]...)
}

// take hands the verdict on the request being served to its handler, and
// places the scanner at the next request: rawLen is the length of the
// field lines as received (RawHeaders), contentLength the request's
// Content-Length as fasthttp reports it (-1 chunked, -2 none).
func (t *lineTracker) take(rawLen, contentLength int) lineVerdict {
	if t.state != lineDone {
		t.state = lineLost
		return lineUnchecked
	}
	if t.bad {
		t.state = lineLost
		return lineBareLF
	}
	body := int64(contentLength)
	switch {
	case contentLength == -2:
		body = 0
	case contentLength < 0:
		t.state = lineLost // chunked
		return lineUnchecked
	}
	// With no field lines, the head ends in the CRLF right after the
	// request line (a LF there was refused above).
	head := int64(rawLen)
	if head == 0 {
		head = 2
	}
	next := t.lineEnd + 1 + head + body
	t.next, t.lineLen, t.prevCR, t.bad, t.state = next, 0, false, false, lineSeek
	if next >= t.read {
		return lineOK
	}
	// The next request's first bytes were read already: scan them from
	// what was kept, if it holds them and nothing after them is missing.
	end := t.keepFrom + int64(len(t.keep))
	if next < t.keepFrom || next >= end {
		t.state = lineLost
		return lineUnchecked
	}
	var tmp [maxKeep]byte
	n := copy(tmp[:], t.keep[next-t.keepFrom:])
	complete := end == t.read
	t.keep, t.keepFrom = t.keep[:0], next+int64(n)
	t.scan(tmp[:n], next)
	if !complete && t.state != lineDone {
		// The rest of its head went by unkept.
		t.state = lineLost
	}
	return lineOK
}

// lineTracked is a client connection whose request lines are followed.
type lineTracked interface{ lines() *lineTracker }

// takeLine asks the connection for the verdict on this request's line ends
// (see above). It runs first in the handler, before any header is changed
// and before the body is read.
func takeLine(ctx *fasthttp.RequestCtx) lineVerdict {
	c, ok := ctx.Conn().(lineTracked)
	if !ok {
		return lineUntracked
	}
	h := &ctx.Request.Header
	return c.lines().take(len(h.RawHeaders()), h.ContentLength())
}
