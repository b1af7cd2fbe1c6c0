package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAccessLogFields: the access line carries bytes in and out, the
// user agent, the consumer (token id) and the trace id; never the token.
func TestAccessLogFields(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, authConfig(t, up.addr))
	r := g.do(t, "POST", "/v1/private/x", `{"a":"bcd"}`, "Authorization: Bearer reader-token", "Content-Type: application/json", "User-Agent: acme-sdk/2.1",
		"traceparent: 00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", r.StatusCode, r.body)
	}
	rid := r.Header.Get("X-Request-Id")
	var line map[string]any
	eventually(t, "the access line", func() bool {
		sc := bufio.NewScanner(strings.NewReader(g.out.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" && m["request_id"] == rid {
				line = m
				return true
			}
		}
		return false
	})
	want := map[string]any{
		"bytes_in": 11.0, "bytes_out": float64(len(r.body)), "user_agent": "acme-sdk/2.1", "consumer": "reader",
		"trace_id": "5bf92f3577b34da6a3ce929d0e0e4736", "status": 200.0, "route": "/v1/private/*",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if strings.Contains(g.out.String(), "reader-token") {
		t.Fatal("the token reached the log")
	}
}
