package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParserRejections sends malformed HTTP over raw sockets: every
// rejection is a 400 contract body and nothing reaches the upstream.
func TestParserRejections(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nmax_header_bytes = \"4KiB\"\nmax_body_bytes = \"1KiB\"", 1)
	g := startGateway(t, cfg)
	big := strings.Repeat("a", 5000)
	cases := []struct {
		name, req, code string
	}{
		{"garbage request line", "HELLO\r\n\r\n", "malformed_request"},
		{"HTTP/0.9 request", "GET /v1/assets\r\n\r\n", "malformed_request"},
		{"HTTP/2.0 in a request line", "GET /v1/assets HTTP/2.0\r\nHost: x\r\n\r\n", "malformed_request"},
		{"HTTP/1.2", "GET /v1/assets HTTP/1.2\r\nHost: x\r\n\r\n", "malformed_request"},
		{"header larger than max_header_bytes", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", "header_too_large"},
		{"body larger than max_body_bytes", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("b", 2000), "body_too_large"},
		{"chunked body larger than max_body_bytes", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + strings.Repeat("b", 2000) + "\r\n0\r\n\r\n", "body_too_large"},
		{"Content-Length and Transfer-Encoding", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "malformed_request"},
		{"Transfer-Encoding gzip, chunked", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "malformed_request"},
		{"Transfer-Encoding chunked, gzip (chunked not last)", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", "malformed_request"},
		{"chunked applied twice", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "malformed_request"},
		{"Content-Length and Transfer-Encoding on HTTP/1.0", "POST /v1/assets HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "malformed_request"},
		{"whitespace before the first field line", "GET /v1/assets HTTP/1.1\r\n Host: x\r\n\r\n", "malformed_request"},
		{"bare LF ends the request line", "GET /v1/assets HTTP/1.1\nHost: x\r\n\r\n", "malformed_request"},
		{"unknown transfer coding", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n", "malformed_request"},
		{"bad chunk size", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "malformed_request"},
		{"non-numeric Content-Length", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\na", "malformed_request"},
		{"negative Content-Length", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "malformed_request"},
		{"two different Content-Lengths", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "malformed_request"},
		{"bare CR in a header value", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "malformed_request"},
		{"space before colon", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", "malformed_request"},
		{"missing Host on HTTP/1.1", "GET /v1/assets HTTP/1.1\r\n\r\n", "malformed_request"},
		{"fragment in target", "GET /v1/assets#x HTTP/1.1\r\nHost: x\r\n\r\n", "malformed_request"},
		{"authority-form target", "GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n", "malformed_request"},
		{"raw backslash path", "GET /v1\\assets HTTP/1.1\r\nHost: x\r\n\r\n", "malformed_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			out := g.raw(t, tc.req)
			if rawStatus(out) != "400" {
				t.Fatalf("status %s, want 400:\n%s", rawStatus(out), out)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(rawBody(out)), &m); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, out)
			}
			if m["code"] != tc.code || m["status"] != float64(400) || m["request_id"] == "" {
				t.Fatalf("body %v, want code %s", m, tc.code)
			}
			if !strings.Contains(out, "Content-Type: application/json") || !strings.Contains(out, "Cache-Control: no-store") || !strings.Contains(out, "X-Request-Id: ") {
				t.Fatalf("contract headers missing:\n%s", out)
			}
			if up.count.Load() != before {
				t.Fatal("a rejected request reached the upstream")
			}
		})
	}
	t.Run("absolute-form target is routed by its path", func(t *testing.T) {
		out := g.raw(t, "GET http://example.com/v1/assets HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
	})
	t.Run("HTTP/1.0 is spoken", func(t *testing.T) {
		out := g.raw(t, "GET /v1/assets HTTP/1.0\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
	})
	t.Run("chunked body within limits is forwarded", func(t *testing.T) {
		out := g.raw(t, "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
		if _, body := up.lastRequest(); string(body) != "hello" {
			t.Fatalf("upstream body %q", body)
		}
	})
}
