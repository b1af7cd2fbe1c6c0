package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawHead sends req on a new connection and returns the response head
// exactly as the bytes arrived (up to the blank line).
func (g *gateway) rawHead(t *testing.T, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), "\r\n\r\n") {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	head, _, _ := strings.Cut(string(got), "\r\n\r\n")
	return head + "\r\n"
}

// TestFieldNamesSpelledAsDefined reads the bytes on the wire: the
// gateway's own fields and kept upstream fields go out spelled as
// README.md and their RFCs or drafts spell them, not re-cased.
func TestFieldNamesSpelledAsDefined(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/assets/challenge" {
			w.Header()["Www-Authenticate"] = []string{`Bearer realm="upstream"`}
			w.WriteHeader(401)
			return
		}
		w.Header()["Etag"] = []string{`"v1"`}
		echo(w, r)
	})
	g := startGateway(t, baseConfig(up.addr, `
[auth]
realm = "cobalt"
[rate_limits.per_ip]
key = "ip"
rate = 100
burst = 100
legacy_headers = true
[[routes]]
path = "/v1/limited"
methods = ["GET"]
upstream = "api"
rate_limits = ["per_ip"]
[[routes]]
path = "/v1/private"
methods = ["GET"]
upstream = "api"
auth = true
`))
	cases := []struct {
		name, path string
		want       []string
	}{
		{"rate limit fields", "/v1/limited", []string{"\r\nRateLimit-Policy: ", "\r\nRateLimit: ", "\r\nX-RateLimit-Limit: ", "\r\nX-RateLimit-Remaining: ", "\r\nX-RateLimit-Reset: ", "\r\nX-Request-Id: "}},
		{"gateway challenge", "/v1/private", []string{"\r\nWWW-Authenticate: Bearer realm=\"cobalt\"\r\n"}},
		{"upstream challenge", "/v1/assets/challenge", []string{"\r\nWWW-Authenticate: Bearer realm=\"upstream\"\r\n"}},
		{"upstream ETag", "/v1/assets/1", []string{"\r\nETag: \"v1\"\r\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head := g.rawHead(t, "GET "+tc.path+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			for _, w := range tc.want {
				if !strings.Contains(head, w) {
					t.Errorf("%q not on the wire:\n%s", w, head)
				}
			}
			for _, bad := range []string{"Ratelimit", "Www-Authenticate", "X-Ratelimit", "Etag:"} {
				if strings.Contains(head, bad) {
					t.Errorf("re-cased %q on the wire:\n%s", bad, head)
				}
			}
		})
	}
}

// TestErrorDetails: an upstream timeout is not maintenance; an operator's
// [errors.details] sentence replaces the default.
func TestErrorDetails(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/assets/504":
			w.WriteHeader(504)
		case "/v1/assets/503":
			w.WriteHeader(503)
		case "/v1/assets/500":
			w.WriteHeader(500)
		}
	})
	g := startGateway(t, baseConfig(up.addr, `
[errors.details]
upstream_error = "Our partner failed; we are on it"
route_not_found = "No such endpoint; see https://docs.example.com"
`))
	cases := []struct {
		path   string
		status int
		code   string
		detail string
	}{
		{"/v1/assets/504", 503, "upstream_timeout", "The upstream service did not answer in time"},
		{"/v1/assets/503", 503, "upstream_503", "The upstream service is unavailable. Please try again later"},
		{"/v1/assets/500", 500, "upstream_500", "We had a problem with our server. Try again later"},
		{"/nowhere", 404, "route_not_found", "No such endpoint; see https://docs.example.com"},
	}
	for _, tc := range cases {
		m := assertProblem(t, g.do(t, "GET", tc.path, ""), tc.status, tc.code)
		if m["detail"] != tc.detail {
			t.Errorf("%s: detail %q, want %q", tc.path, m["detail"], tc.detail)
		}
	}
	// 502 → 503 upstream_unavailable with its own sentence; the override
	// of upstream_error applies where that code is used (501).
	up2 := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(501) })
	g2 := startGateway(t, baseConfig(up2.addr, "[errors.details]\nupstream_error = \"Our partner failed; we are on it\"\n"))
	m := assertProblem(t, g2.do(t, "GET", "/v1/assets/x", ""), 500, "upstream_error")
	if m["detail"] != "Our partner failed; we are on it" {
		t.Errorf("detail %q", m["detail"])
	}
}
