package proxy

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestCheckHead(t *testing.T) {
	many := "Connection: " + strings.Repeat("x-a, ", 33) + "\r\n"
	cases := []struct {
		name, raw string
		want      headProblem
	}{
		{"CRLF lines", "Host: x\r\nX-A: 1\r\n\r\n", headOK},
		{"empty head", "\r\n", headOK},
		{"RFC 9112 5.1: space inside a field name", "Host: x\r\nTransfer Encoding: chunked\r\n\r\n", headBadFieldName},
		{"RFC 9112 5.1: space before the colon", "Host: x\r\nX-A : 1\r\n\r\n", headBadFieldName},
		{"tab before the colon", "Host: x\r\nX-A\t: 1\r\n\r\n", headBadFieldName},
		{"empty field name", "Host: x\r\n: 1\r\n\r\n", headBadFieldName},
		{"no colon", "Host: x\r\nX-A\r\n\r\n", headBadFieldName},
		{"non-token byte in a name", "Host: x\r\nX(A): 1\r\n\r\n", headBadFieldName},
		{"bare LF line end", "Host: x\nX-A: 1\r\n\r\n", headBareLF},
		{"bare LF ending the head", "Host: x\r\n\n", headBareLF},
		{"no line end", "Host: x", headBareLF},
		{"RFC 9112 5.2: obs-fold", "Host: x\r\nX-A: 1\r\n 2\r\n\r\n", headObsFold},
		{"RFC 9110 5.5: CR inside a value", "Host: x\r\nX-A: 1\r2\r\n\r\n", headBadFieldValue},
		{"CR ending a value before CRLF (fuzz)", "ConneCtion:X-Org-Token\r\r\n", headBadFieldValue},
		{"RFC 9110 5.5: NUL inside a value", "Host: x\r\nX-A: 1\x002\r\n\r\n", headBadFieldValue},
		{"Connection naming a plain field", "Host: x\r\nConnection: X-Secret, keep-alive\r\n\r\n", headOK},
		{"Connection naming X-Org-Token", "Host: x\r\nConnection: X-Org-Token\r\n\r\n", headConnectionJudged},
		{"Connection naming Authorization in any case", "Host: x\r\nconnection: close, AUTHORIZATION\r\n\r\n", headConnectionJudged},
		{"Connection naming Idempotency-Key on a second line", "Host: x\r\nConnection: close\r\nConnection: Idempotency-Key\r\n\r\n", headConnectionJudged},
		{"Connection naming Content-Type", "Host: x\r\nConnection: content-type\r\n\r\n", headConnectionJudged},
		{"Connection naming X-Forwarded-For", "Host: x\r\nConnection: X-Forwarded-For\r\n\r\n", headConnectionJudged},
		{"Connection naming 32 fields", "Host: x\r\nConnection: " + strings.Repeat("x-a, ", 32) + "\r\n\r\n", headOK},
		{"Connection naming 33 fields", "Host: x\r\n" + many + "\r\n", headConnectionTooMany},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := checkHead([]byte(tc.raw)); got != tc.want {
				t.Fatalf("checkHead(%q) = %d, want %d", tc.raw, got, tc.want)
			}
		})
	}
}

// TestCheckHeadHop: checkHead finds the hop-by-hop lines of a head, in any
// case, and nothing else, so dropConnectionOptions looks up only those.
func TestCheckHeadHop(t *testing.T) {
	cases := []struct {
		raw  string
		want bool
	}{
		{"Host: x\r\nX-A: 1\r\n\r\n", false},
		{"Host: x\r\nX-Te: 1\r\nConnectionX: 1\r\n\r\n", false},
		{"Host: x\r\nConnection: close\r\n\r\n", true},
		{"Host: x\r\nte: trailers\r\n\r\n", true},
		{"Host: x\r\nKEEP-ALIVE: 5\r\n\r\n", true},
		{"Host: x\r\nProxy-Connection: keep-alive\r\n\r\n", true},
		{"Host: x\r\nUpgrade: websocket\r\n\r\n", true},
		{"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"Host: x\r\nHTTP2-Settings: AA\r\n\r\n", true},
	}
	for _, tc := range cases {
		if p, hop := checkHead([]byte(tc.raw)); p != headOK || (hop != 0) != tc.want {
			t.Errorf("checkHead(%q) = %d, hop %v; want ok, hop %v", tc.raw, p, hop, tc.want)
		}
	}
}

// FuzzCheckHead checks that an accepted head has only token field names,
// CRLF line ends and a Connection header that names no judged field, and
// that the check never panics.
func FuzzCheckHead(f *testing.F) {
	for _, s := range []string{
		"Host: x\r\n\r\n",
		"Host: x\r\nTransfer Encoding: chunked\r\n\r\n",
		"Host: x\nX-A: 1\r\n\r\n",
		"Host: x\r\nX-A : 1\r\n\r\n",
		"Host: x\r\nConnection: X-Org-Token\r\n\r\n",
		"Host: x\r\nConnection: close, X-Secret\r\n\r\n",
		"Host: x\r\nX-A: 1\r\n 2\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if p, _ := checkHead([]byte(raw)); p != headOK {
			return
		}
		for _, line := range strings.Split(raw, "\r\n") {
			if line == "" {
				return // the end of the head
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t\n\r") {
				t.Fatalf("accepted line %q of %q", line, raw)
			}
			if strings.EqualFold(name, "connection") {
				for _, tok := range strings.Split(value, ",") {
					if isJudgedField([]byte(strings.TrimSpace(tok))) {
						t.Fatalf("accepted Connection naming %q in %q", tok, raw)
					}
				}
			}
		}
	})
}

func readRequest(t testing.TB, s string) *fasthttp.Request {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(s))); err != nil {
		t.Fatal(err)
	}
	return &req
}

// TestDropConnectionOptionsHasNoLimit: 24 TE lines and more named fields
// than any fixed list held once let Upgrade through.
func TestDropConnectionOptionsHasNoLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 40; i++ {
		b.WriteString("TE: trailers\r\n")
	}
	b.WriteString("Connection: " + strings.Repeat("X-A, ", 30) + "X-B, Upgrade\r\nUpgrade: websocket\r\nX-A: 1\r\nX-B: 2\r\nX-Kept: 3\r\n\r\n")
	req := readRequest(t, b.String())
	_, present := checkHead(req.Header.RawHeaders())
	dropConnectionOptions(&req.Header, true, present)
	for _, k := range []string{"TE", "X-A", "X-B"} {
		if v := req.Header.PeekAll(k); len(v) > 0 {
			t.Fatalf("%s left: %q", k, v)
		}
	}
	if len(req.Header.Peek("Upgrade")) == 0 || len(req.Header.Peek("X-Kept")) == 0 {
		t.Fatal("step 1 must keep Upgrade (the route decides) and unnamed fields")
	}
	dropConnectionOptions(&req.Header, false, present)
	if len(req.Header.Peek("Upgrade")) > 0 || len(req.Header.Peek("Connection")) > 0 {
		t.Fatal("forwarding must drop Upgrade and Connection")
	}
}

func TestDropOwnedFields(t *testing.T) {
	req := readRequest(t, "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nX_Forwarded_For: 3.3.3.3\r\n"+
		"X-Real-IP: 4\r\nX-Request-Id: a\r\nX-Request-Id: b\r\nX-Consumer-Id: admin\r\nx_consumer_id: admin\r\nForwarded: for=5\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\nX-Client-Cert-Subject: CN=a\r\nX-Other: kept\r\n\r\n")
	dropOwnedFields(&req.Header, true)
	for _, k := range req.Header.PeekKeys() {
		if ownedField(k, true) {
			t.Fatalf("%s left", k)
		}
	}
	if string(req.Header.Peek("Forwarded")) != "for=5" || string(req.Header.Peek("X-Other")) != "kept" {
		t.Fatal("Forwarded (trusted) or X-Other lost")
	}
	dropOwnedFields(&req.Header, false)
	if len(req.Header.Peek("Forwarded")) > 0 {
		t.Fatal("Forwarded from an untrusted peer left")
	}
}

func BenchmarkCheckHead(b *testing.B) {
	raw := []byte("Host: api.example.com\r\nUser-Agent: bench\r\nAccept: application/json\r\nAuthorization: Bearer abc\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if p, _ := checkHead(raw); p != headOK {
			b.Fatal("refused")
		}
	}
}

func BenchmarkDropConnectionOptions(b *testing.B) {
	req := readRequest(b, "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n")
	b.ReportAllocs()
	var h fasthttp.RequestHeader
	_, present := checkHead(req.Header.RawHeaders())
	for b.Loop() {
		req.Header.CopyTo(&h)
		dropConnectionOptions(&h, true, present)
	}
}

// BenchmarkSetForwardingFields: the forwarding fields of a request that
// sent two X-Forwarded-For lines (each iteration restores the head).
func BenchmarkSetForwardingFields(b *testing.B) {
	g := benchGateway(b, benchConfig)
	ctx := benchCtx("/v1/assets", "X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6")
	ctx.Request.Header.Add("X-Forwarded-For", "7.7.7.7")
	var saved fasthttp.RequestHeader
	ctx.Request.Header.CopyTo(&saved)
	b.ReportAllocs()
	for b.Loop() {
		saved.CopyTo(&ctx.Request.Header)
		r := request{g: g, rt: g.rt.Load(), ctx: ctx, start: g.now()}
		r.setRequestID()
		r.setForwardingFields()
	}
	if v := ctx.Request.Header.PeekAll("X-Forwarded-For"); len(v) != 1 || string(v[0]) != "127.0.0.1" {
		b.Fatalf("X-Forwarded-For %q", v)
	}
}

// TestDropResponseHopHeaders: every hop-by-hop field of a response and
// every field its Connection header names are removed, Connection: close
// included (its flag too); other fields stay.
func TestDropResponseHopHeaders(t *testing.T) {
	cases := []struct {
		name, head string
		gone, kept []string
	}{
		{"none", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n", nil, []string{"X-A"}},
		{"keep-alive", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n\r\n",
			[]string{"Connection", "Keep-Alive"}, []string{"X-A"}},
		{"named fields", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: X-Secret, x-other\r\nX-Secret: s\r\nX-Other: o\r\nX-A: 1\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n\r\n",
			[]string{"Connection", "X-Secret", "X-Other", "Upgrade", "Proxy-Authenticate"}, []string{"X-A"}},
		{"close", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nX-A: 1\r\n\r\n",
			[]string{"Connection"}, []string{"X-A"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp fasthttp.Response
			if err := resp.Read(bufio.NewReader(strings.NewReader(tc.head))); err != nil {
				t.Fatal(err)
			}
			dropResponseHopHeaders(&resp.Header)
			for _, k := range tc.gone {
				if v := resp.Header.Peek(k); v != nil {
					t.Errorf("%s left: %q", k, v)
				}
			}
			if resp.Header.ConnectionClose() {
				t.Error("Connection: close flag left")
			}
			for _, k := range tc.kept {
				if resp.Header.Peek(k) == nil {
					t.Errorf("%s removed", k)
				}
			}
		})
	}
}
