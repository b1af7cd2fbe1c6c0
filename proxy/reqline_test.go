package proxy

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// feed hands stream to the tracker in reads of at most chunk bytes.
func feed(t *lineTracker, stream []byte, chunk int) {
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		t.observe(stream[:n])
		stream = stream[n:]
	}
}

// serveStream plays what the server does with a connection's bytes: it
// parses each request head with fasthttp, and asks the tracker for its
// verdict once the head (and, with before > 0, that many more bytes) has
// been read, as the handler does. It returns the verdicts, for each
// request whether its head was strict (every LF in it preceded by CR), and
// whether checkHead found a problem in its field lines.
func serveStream(stream []byte, chunk, before int) (verdicts []lineVerdict, strict, fieldsBad []bool) {
	var lt lineTracker
	fed := 0
	for pos := 0; pos < len(stream); {
		var h fasthttp.RequestHeader
		rd := bytes.NewReader(stream[pos:])
		br := bufio.NewReaderSize(rd, 64<<10)
		if h.Read(br) != nil {
			return
		}
		headEnd := len(stream) - rd.Len() - br.Buffered()
		if to := min(headEnd+before, len(stream)); to > fed {
			feed(&lt, stream[fed:to], chunk)
			fed = to
		}
		v := lt.take(len(h.RawHeaders()), h.ContentLength())
		verdicts = append(verdicts, v)
		hp, _ := checkHead(h.RawHeaders())
		fieldsBad = append(fieldsBad, hp != headOK)
		ok := true
		for i, c := range stream[pos:headEnd] {
			if c == '\n' && (i == 0 || stream[pos+i-1] != '\r') {
				ok = false
			}
		}
		strict = append(strict, ok)
		if v != lineOK {
			return
		}
		body := h.ContentLength()
		if body == -2 {
			body = 0
		}
		pos = headEnd + body
	}
	return
}

func TestRequestLineEnds(t *testing.T) {
	cases := []struct {
		name   string
		stream string
		want   []lineVerdict
	}{
		{"CRLF", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineOK}},
		{"request line ends in a bare LF", "GET /x HTTP/1.1\nHost: a\r\n\r\n", []lineVerdict{lineBareLF}},
		{"no fields, bare LF ends the request line", "GET / HTTP/1.0\n\r\n", []lineVerdict{lineBareLF}},
		{"no fields, CRLF", "GET / HTTP/1.0\r\n\r\n", []lineVerdict{lineOK}},
		{"empty CRLF lines before the request line are skipped", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineOK}},
		{"an empty bare LF line before it", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineBareLF}},
		{"second request's line ends in a bare LF", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\nHost: a\r\n\r\n", []lineVerdict{lineOK, lineBareLF}},
		{"a body holding a bare-LF request line", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\nGET / HTTP/1.1\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineOK, lineOK}},
		{"after a chunked body the next start is unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []lineVerdict{lineUnchecked}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 2, 3, 7, 1 << 16} {
				got, _, _ := serveStream([]byte(tc.stream), chunk, 0)
				if len(got) != len(tc.want) {
					t.Fatalf("chunk %d: verdicts %v, want %v", chunk, got, tc.want)
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("chunk %d: verdicts %v, want %v", chunk, got, tc.want)
					}
				}
			}
		})
	}
	pipelined := []struct {
		name   string
		stream string
		want   []lineVerdict
	}{
		{"pipelined: the second request's bare LF is found", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\nHost: a\r\n\r\n", []lineVerdict{lineOK, lineBareLF}},
		{"pipelined: three strict requests", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\nPOST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", []lineVerdict{lineOK, lineOK, lineOK}},
		{"pipelined after a body holding a bare-LF line", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\nGET / HTTP/1.1\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineOK, lineOK}},
		{"pipelined past what is kept: the connection closes", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("x", 3000) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []lineVerdict{lineUnchecked}},
	}
	t.Run("many pipelined: served while kept, then the connection closes", func(t *testing.T) {
		req := "GET /a-long-enough-path HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789\r\n\r\n"
		for _, chunk := range []int{1, 5, 1 << 16} {
			got, _, _ := serveStream([]byte(strings.Repeat(req, 40)), chunk, 1<<16)
			// The first request, then those maxKeep holds whole; the last
			// of them closes, as the one after it is not kept.
			want := append(slices.Repeat([]lineVerdict{lineOK}, maxKeep/len(req)), lineUnchecked)
			if !slices.Equal(got, want) {
				t.Fatalf("chunk %d: verdicts %v, want %v", chunk, got, want)
			}
		}
	})
	for _, tc := range pipelined {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 5, 1 << 16} {
				// Every byte is read before the first handler runs.
				got, _, _ := serveStream([]byte(tc.stream), chunk, 1<<16)
				if !slices.Equal(got, tc.want) {
					t.Fatalf("chunk %d: verdicts %v, want %v", chunk, got, tc.want)
				}
			}
		})
	}
}

// FuzzRequestLine: for any stream of requests, read in any chunk sizes, a
// head with a bare LF anywhere is refused by the tracker or by checkHead,
// and the tracker never refuses a strict head: it follows fasthttp's idea
// of where each request starts, however many came before it on the
// connection and whatever their bodies hold.
func FuzzRequestLine(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\n\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16\r\n\r\nGET / HTTP/1.1\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// Heads read one at a time, and everything read at once (a
		// client that pipelines: the later requests come from what the
		// tracker kept).
		verdicts, strict, fieldsBad := serveStream(stream, int(chunk)+1, 0)
		check(t, stream, verdicts, strict, fieldsBad)
		verdicts, strict, fieldsBad = serveStream(stream, int(chunk)+1, 1<<16)
		check(t, stream, verdicts, strict, fieldsBad)
	})
}

func check(t *testing.T, stream []byte, verdicts []lineVerdict, strict, fieldsBad []bool) {
	t.Helper()
	{
		for i, v := range verdicts {
			switch {
			case v == lineBareLF && strict[i]:
				t.Fatalf("request %d refused, but its head is strict: %q", i, stream)
			case v == lineOK && !strict[i] && !fieldsBad[i]:
				t.Fatalf("request %d passed with a bare LF in its head: %q", i, stream)
			}
		}
	}
}

// BenchmarkRequestLine measures what the connection wrapper adds to a
// keep-alive request: scanning its first line as it is read, and the
// handler's take.
func BenchmarkRequestLine(b *testing.B) {
	head := []byte("GET /v1/assets/42?size=large HTTP/1.1\r\nHost: gw.example\r\nAccept: application/json\r\nUser-Agent: bench\r\n\r\n")
	raw := len(head) - len("GET /v1/assets/42?size=large HTTP/1.1\r\n")
	var lt lineTracker
	b.ReportAllocs()
	for b.Loop() {
		lt.observe(head)
		if lt.take(raw, -2) != lineOK {
			b.Fatal("refused")
		}
	}
}
