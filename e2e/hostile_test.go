package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hostile clients (README.md "Security notes"): each test sends the
// hostile bytes over a raw socket and checks both what the client got and
// what the upstream saw.

// assertRawProblem checks a raw() answer is a contract error with code.
func assertRawProblem(t *testing.T, out string, status int, code string) {
	t.Helper()
	if rawStatus(out) != fmt.Sprint(status) {
		t.Fatalf("status %s, want %d:\n%s", rawStatus(out), status, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(rawBody(out)), &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, out)
	}
	if m["code"] != code || m["status"] != float64(status) {
		t.Fatalf("body %v, want code %s", m, code)
	}
	if !strings.Contains(out, "Content-Type: application/json") || !strings.Contains(out, "X-Request-Id: ") {
		t.Fatalf("contract headers missing:\n%s", out)
	}
}

func TestHostileForwardingFields(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, ""))
	out := g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nx_forwarded_for: 8.8.8.8\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"+
		"X-Forwarded-Host: evil.example\r\nX-Forwarded-Host: evil2.example\r\n"+
		"X-Real-IP: 6.6.6.6\r\nX-Real-Ip: 7.7.7.7\r\n"+
		"X-Request-Id: client-id-1\r\nX-Request-Id: client-id-2\r\n"+
		"X-Consumer-Id: admin\r\nX-Consumer-Id: root\r\n"+
		"X-Client-Cert-Subject: CN=admin\r\nX-Client-Cert-Subject: CN=root\r\n"+
		"Forwarded: for=6.6.6.6;proto=https\r\n\r\n")
	if rawStatus(out) != "200" {
		t.Fatalf("status %s\n%s", rawStatus(out), out)
	}
	req, _ := up.lastRequest()
	want := map[string][]string{
		"X-Forwarded-For":   {"127.0.0.1"},
		"X-Forwarded-Proto": {"http"},
		"X-Forwarded-Host":  {"api.example"},
		"X-Real-Ip":         {"127.0.0.1"},
		"X-Request-Id":      {"client-id-1"},
	}
	for k, v := range want {
		if got := req.Header.Values(k); strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"X_forwarded_for", "X-Consumer-Id", "X-Client-Cert-Subject", "Forwarded"} {
		if v := req.Header.Values(k); len(v) > 0 {
			t.Errorf("upstream received %s: %q", k, v)
		}
	}

	t.Run("a trusted proxy's Forwarded and chain are kept", func(t *testing.T) {
		cfg := strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.0/8\"]", 1)
		g := startGateway(t, cfg)
		out := g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=203.0.113.9\r\n"+
			"X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
		req, _ := up.lastRequest()
		if v := req.Header.Values("X-Forwarded-For"); len(v) != 1 || v[0] != "203.0.113.9, 198.51.100.1, 127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q", v)
		}
		if v := req.Header.Values("X-Real-Ip"); len(v) != 1 || v[0] != "198.51.100.1" {
			t.Fatalf("X-Real-IP = %q, want the client address used for limits", v)
		}
		if v := req.Header.Values("Forwarded"); len(v) != 1 || v[0] != "for=203.0.113.9" {
			t.Fatalf("Forwarded = %q", v)
		}
		if v := req.Header.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != "https" {
			t.Fatalf("X-Forwarded-Proto = %q, want the trusted proxy's", v)
		}
		if v := req.Header.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != "public.example" {
			t.Fatalf("X-Forwarded-Host = %q, want the trusted proxy's", v)
		}
	})
}

func TestHostileConnectionOptions(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, authConfig(t, up.addr))
	judged := []struct{ name, extra string }{
		{"X-Org-Token", "Authorization: Bearer writer-token\r\nX-Org-Token: org-1\r\n"},
		{"Authorization", "Authorization: Bearer writer-token\r\nX-Org-Token: org-1\r\n"},
		{"Idempotency-Key", "Idempotency-Key: k1\r\n"},
		{"Content-Type", "Content-Type: application/json\r\n"},
		{"X-Forwarded-For", "X-Forwarded-For: 1.2.3.4\r\n"},
		{"x-request-id", "X-Request-Id: abc\r\n"},
		{"Host", ""},
		{"Content-Length", ""},
		{"Accept", "Accept: application/json\r\n"},
		{"Forwarded", "Forwarded: for=1.2.3.4\r\n"},
		{"X-Real-IP", "X-Real-IP: 1.2.3.4\r\n"},
		{"X-Forwarded-Proto", "X-Forwarded-Proto: https\r\n"},
		{"X-Forwarded-Host", "X-Forwarded-Host: evil.example\r\n"},
	}
	for _, tc := range judged {
		t.Run("Connection naming "+tc.name+" is 400", func(t *testing.T) {
			before := up.count.Load()
			out := g.raw(t, "GET /v1/private/x HTTP/1.1\r\nHost: x\r\n"+tc.extra+"Connection: close, "+tc.name+"\r\n\r\n")
			assertRawProblem(t, out, 400, "malformed_request")
			if up.count.Load() != before {
				t.Fatal("the request reached the upstream")
			}
		})
	}
	t.Run("Connection naming 33 fields is 400", func(t *testing.T) {
		before := up.count.Load()
		out := g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nConnection: "+strings.Repeat("X-A, ", 33)+"close\r\n\r\n")
		assertRawProblem(t, out, 400, "malformed_request")
		if up.count.Load() != before {
			t.Fatal("the request reached the upstream")
		}
	})
	t.Run("Connection naming 32 fields passes, each one removed", func(t *testing.T) {
		var names, fields strings.Builder
		for i := 0; i < 31; i++ {
			fmt.Fprintf(&names, "X-Opt-%d, ", i)
			fmt.Fprintf(&fields, "X-Opt-%d: v\r\n", i)
		}
		out := g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\n"+fields.String()+"Connection: "+names.String()+"close\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
		req, _ := up.lastRequest()
		for k := range req.Header {
			if strings.HasPrefix(k, "X-Opt-") {
				t.Fatalf("upstream received %s", k)
			}
		}
	})
	t.Run("a field named in Connection is gone before the limits read it", func(t *testing.T) {
		g := startGateway(t, baseConfig(up.addr, `
[rate_limits.by_tenant]
key = "header:X-Tenant"
rate = 0.01
burst = 1

[[routes]]
path = "/v1/tenant"
methods = ["GET"]
upstream = "api"
rate_limits = ["by_tenant"]
`))
		// Were X-Tenant read before it is dropped, this request would
		// spend tenant t1's only token and the next one would be 429.
		out := g.raw(t, "GET /v1/tenant HTTP/1.1\r\nHost: x\r\nX-Tenant: t1\r\nConnection: X-Tenant, close\r\n\r\n")
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
		if req, _ := up.lastRequest(); len(req.Header.Values("X-Tenant")) > 0 {
			t.Fatalf("upstream received X-Tenant: %q", req.Header.Values("X-Tenant"))
		}
		if out := g.raw(t, "GET /v1/tenant HTTP/1.1\r\nHost: x\r\nX-Tenant: t1\r\nConnection: close\r\n\r\n"); rawStatus(out) != "200" {
			t.Fatalf("t1's first counted request: status %s\n%s", rawStatus(out), out)
		}
		assertRawProblem(t, g.raw(t, "GET /v1/tenant HTTP/1.1\r\nHost: x\r\nX-Tenant: t1\r\nConnection: close\r\n\r\n"), 429, "rate_limited")
	})
	t.Run("24 TE lines do not smuggle an Upgrade", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("GET /v1/assets HTTP/1.1\r\nHost: x\r\n")
		for i := 0; i < 24; i++ {
			b.WriteString("TE: trailers\r\n")
		}
		b.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\nConnection: close\r\nX-Named: 1\r\nConnection: X-Named\r\n\r\n")
		out := g.raw(t, b.String())
		if rawStatus(out) != "200" {
			t.Fatalf("status %s\n%s", rawStatus(out), out)
		}
		req, _ := up.lastRequest()
		for _, k := range []string{"Upgrade", "Te", "X-Named"} {
			if v := req.Header.Values(k); len(v) > 0 {
				t.Errorf("upstream received %s: %q", k, v)
			}
		}
	})
}

func TestHostileParsing(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, `
[[routes]]
path = "/public/*"
methods = ["GET"]
upstream = "api"
`))
	cases := []struct{ name, req string }{
		{"space inside a field name", "POST /v1/assets HTTP/1.1\r\nHost: x\r\nTransfer Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{"bare LF line end", "GET /v1/assets HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n"},
		{"obsolete line folding", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"},
		{"bare CR inside a field value", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-A: 1\rX-B: 2\r\n\r\n"},
		{"CR before CRLF hiding a judged name from Connection", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-Org-Token: o\r\nConnection: X-Org-Token\r\r\n\r\n"},
		{"NUL inside a field value", "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n"},
		{"dotdot with a path parameter", "GET /public/..;/v1/assets HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"encoded dot with a path parameter", "GET /public/%2e;x/a HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			assertRawProblem(t, g.raw(t, tc.req), 400, "malformed_request")
			if up.count.Load() != before {
				t.Fatal("the request reached the upstream")
			}
		})
	}
}

// TestHostileLogLeaks: the parser's error text quotes the bytes it
// refused; the log says what kind of error it was, never the bytes.
func TestHostileLogLeaks(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, ""))
	out := g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer s3cr3t-t0ken-value\r\n\r\n")
	assertRawProblem(t, out, 400, "malformed_request")
	out = g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-Org-Token\t: 0rg-s3cr3t\r\n\r\n")
	assertRawProblem(t, out, 400, "malformed_request")
	out = g.raw(t, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nCookie : session=c00kie-s3cr3t\r\n\r\n")
	assertRawProblem(t, out, 400, "malformed_request")
	// Refused after parsing: the key is invalid (a space in it).
	out = g.raw(t, "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nIdempotency-Key: idem s3cr3t\r\n\r\n{}")
	assertRawProblem(t, out, 400, "invalid_idempotency_key")
	// A bare LF after the request line: the line is not quoted either.
	out = g.raw(t, "GET /v1/assets?token=qu3ry-s3cr3t HTTP/1.1\nHost: x\r\n\r\n")
	assertRawProblem(t, out, 400, "malformed_request")
	eventually(t, "access log lines", func() bool {
		return strings.Count(g.out.String(), `"code":"malformed_request"`) >= 4 && strings.Contains(g.out.String(), `"code":"invalid_idempotency_key"`)
	})
	if log := g.out.String(); strings.Contains(log, "s3cr3t") {
		t.Fatalf("the log quotes a secret:\n%s", log)
	}
}

// TestEveryChallengeAndRetryAfter: every 401 carries WWW-Authenticate and
// every 429 and 503 Retry-After, including upstream errors passed through
// with their JSON body.
func TestEveryChallengeAndRetryAfter(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/assets/401":
			w.WriteHeader(401)
		case "/v1/assets/401-own":
			w.Header().Set("WWW-Authenticate", `Basic realm="upstream"`)
			w.WriteHeader(401)
		case "/v1/assets/429":
			w.WriteHeader(429)
		case "/v1/assets/429-own":
			w.Header().Set("Retry-After", "42")
			w.WriteHeader(429)
		case "/v1/assets/503":
			w.WriteHeader(503)
		case "/v1/assets/503-own":
			w.Header().Set("Retry-After", "17")
			w.WriteHeader(503)
		case "/v1/assets/408":
			w.WriteHeader(408)
		case "/v1/assets/407":
			w.WriteHeader(407)
		case "/v1/assets/407-own":
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(407)
		}
		_, _ = w.Write([]byte(`{"error":"upstream says no"}`))
	})
	g := startGateway(t, baseConfig(up.addr, "[auth]\nrealm = \"cobalt api\"\n"))
	// 401 and 429 keep the upstream's JSON body; 503, 408 (→ 503) and
	// 407 (→ 401) get the contract body (a 5xx or mapped body never
	// passes).
	cases := []struct {
		path, header, want, status string
		kept                       bool
	}{
		{"/v1/assets/401", "WWW-Authenticate", `Bearer realm="cobalt api"`, "401", true},
		{"/v1/assets/401-own", "WWW-Authenticate", `Basic realm="upstream"`, "401", true},
		{"/v1/assets/429", "Retry-After", "1", "429", true},
		{"/v1/assets/429-own", "Retry-After", "42", "429", true},
		{"/v1/assets/503", "Retry-After", "1", "503", false},
		{"/v1/assets/503-own", "Retry-After", "17", "503", false},
		{"/v1/assets/408", "Retry-After", "1", "503", false},
		{"/v1/assets/407", "WWW-Authenticate", `Bearer realm="cobalt api"`, "401", false},
		{"/v1/assets/407-own", "WWW-Authenticate", `Basic realm="proxy"`, "401", false},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			out := g.raw(t, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if rawStatus(out) != tc.status {
				t.Fatalf("status %s, want %s:\n%s", rawStatus(out), tc.status, out)
			}
			if kept := strings.Contains(rawBody(out), "upstream says no"); kept != tc.kept {
				t.Fatalf("the upstream's JSON body kept = %v, want %v:\n%s", kept, tc.kept, out)
			}
			if !strings.Contains(out, http.CanonicalHeaderKey(tc.header)+": "+tc.want+"\n") {
				t.Fatalf("want %s: %s in\n%s", tc.header, tc.want, out)
			}
		})
	}
}

// TestHostileCertificateSubject: a common name that spells a SAN cannot
// pass for one in X-Client-Cert-Subject.
func TestHostileCertificateSubject(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	g, _ := tlsGateway(t, ca, up.addr, "optional", "")
	c, k, _ := ca.issue(t, `x;DNS=admin.internal,\`, []string{"svc-a.internal"}, true)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	r, body := get(t, tlsClient(ca, &cert, 0), "https://"+g.addr+"/v1/assets")
	if r.StatusCode != 200 {
		t.Fatalf("status %d %s", r.StatusCode, body)
	}
	seen, _ := up.lastRequest()
	want := `CN=x\;DNS\=admin.internal\,\\;DNS=svc-a.internal`
	if v := seen.Header.Values("X-Client-Cert-Subject"); len(v) != 1 || v[0] != want {
		t.Fatalf("X-Client-Cert-Subject = %q, want %q", v, want)
	}
}

// TestClientAuthFollowsReload: a reload that turns tls_client_auth off
// and drops tls_client_ca stops asking for client certificates; it never
// leaves verification on against the system roots (where a certificate of
// any other CA fails the handshake).
func TestClientAuthFollowsReload(t *testing.T) {
	ca := newCA(t, "test ca")
	other := newCA(t, "other ca")
	up := newUpstream(t, echo)
	g, _ := tlsGateway(t, ca, up.addr, "required", "")
	raw, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(strings.Replace(string(raw), `tls_client_ca = "ca.pem"`, "", 1), `tls_client_auth = "required"`, `tls_client_auth = "off"`, 1)
	replaceFile(t, g.cfgPath, cfg)
	g.signal(syscall.SIGHUP)
	c, k, _ := other.issue(t, "someone", nil, true)
	cert, _ := tls.X509KeyPair(c, k)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: ca.pool(), ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}}}
	eventually(t, "client auth off after the reload", func() bool {
		r, err := client.Get("https://" + g.addr + "/v1/assets")
		if err != nil {
			return false
		}
		r.Body.Close()
		client.CloseIdleConnections()
		return r.StatusCode == 200
	})
}
