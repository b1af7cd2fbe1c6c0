package proxy

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRespellFieldNames(t *testing.T) {
	var resp fasthttp.Response
	h := &resp.Header
	h.Set("ratelimit-policy", `"up";q=10;w=1`)
	h.Set("RATELIMIT", `"a";r=9;t=1`)
	h.Add("RateLimit-Policy", `"a";q=10;w=1`)
	h.Add("www-authenticate", `Bearer realm="x"`)
	h.Add("WWW-Authenticate", `Basic realm="y"`)
	h.Set("X-Ratelimit-Limit", "10")
	h.Set("Idempotent-Replayed", "true")
	h.Set("X-Request-Id", "r1")
	respellFieldNames(h)
	wire := string(h.Header())
	for _, want := range []string{
		"\r\nRateLimit-Policy: \"up\";q=10;w=1\r\nRateLimit-Policy: \"a\";q=10;w=1\r\n", "\r\nRateLimit: \"a\";r=9;t=1\r\n",
		"\r\nWWW-Authenticate: Bearer realm=\"x\"\r\n", "\r\nWWW-Authenticate: Basic realm=\"y\"\r\n",
		"\r\nX-RateLimit-Limit: 10\r\n", "\r\nIdempotent-Replayed: true\r\n", "\r\nX-Request-Id: r1\r\n",
	} {
		if !strings.Contains(wire, want) {
			t.Errorf("%q not in\n%s", want, wire)
		}
	}
	if strings.Contains(wire, "Ratelimit") || strings.Contains(wire, "Www-") {
		t.Errorf("normalized spelling left in\n%s", wire)
	}
	// Later responses on the same header object are normalized as usual.
	resp.Reset()
	h.Set("content-type", "text/plain")
	if string(h.ContentType()) != "text/plain" {
		t.Fatal("normalization not restored")
	}
}

func BenchmarkRespellFieldNames(b *testing.B) {
	var resp fasthttp.Response
	b.ReportAllocs()
	for b.Loop() {
		resp.Header.Reset()
		resp.Header.Set("RateLimit-Policy", `"a";q=10;w=1`)
		resp.Header.Set("RateLimit", `"a";r=9;t=1`)
		resp.Header.Set("Content-Type", "application/json")
		respellFieldNames(&resp.Header)
	}
}
