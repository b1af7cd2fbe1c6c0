package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// Every key but the five restart-only ones takes effect on reload
// (docs/configuration.md, "Reload"). Each test here changes one by
// rewriting the file and sending SIGHUP, and watches the new behaviour
// from outside, on a new connection.

// reloadTo rewrites the gateway's file to cfg, sends SIGHUP and waits for
// the reload to be logged as done (the n-th "config reloaded" line).
func (g *gateway) reloadTo(t *testing.T, cfg string, n int) {
	t.Helper()
	replaceFile(t, g.cfgPath, cfg)
	g.signal(syscall.SIGHUP)
	eventually(t, fmt.Sprintf("reload %d", n), func() bool { return strings.Count(g.out.String(), "config reloaded") >= n })
}

// withServer adds lines under [server] of a baseConfig text.
func withServer(cfg, lines string) string {
	return strings.Replace(cfg, `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\n"+lines, 1)
}

// roundTrip sends req on c and reads one response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

const getAssets = "GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n"

func TestReloadLogLevelAndFormat(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := baseConfig(up.addr, "")
	g := startGatewayFile(t, writeConfig(t, cfg))
	g.reloadTo(t, cfg, 1)
	if strings.Contains(g.out.String(), "reload prepared") {
		t.Fatalf("a debug line at level info:\n%s", g.out.String())
	}

	// info → debug and json → text: the reload's own debug line is text.
	g.reloadTo(t, strings.Replace(cfg, `format = "json"`, "format = \"text\"\nlevel = \"debug\"", 1), 2)
	eventually(t, "a text debug line", func() bool {
		return strings.Contains(g.out.String(), `level=DEBUG msg="reload prepared and committed" trigger=SIGHUP`)
	})
	if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	eventually(t, "a text access line", func() bool {
		return strings.Contains(g.out.String(), "level=INFO msg=request request_id=")
	})

	// And back: JSON lines, no debug.
	mark := len(g.out.String())
	g.reloadTo(t, cfg, 3)
	after := g.out.String()[mark:]
	if !strings.Contains(after, `{"time":`) || !strings.Contains(after, `"msg":"config reloaded"`) || strings.Contains(after, "reload prepared") {
		t.Fatalf("after the switch back to json at info:\n%s", after)
	}
}

func TestReloadIdleAndReadTimeout(t *testing.T) {
	up := newUpstream(t, echo)
	long := withServer(baseConfig(up.addr, ""), "read_timeout = \"5s\"\nidle_timeout = \"5s\"")
	g := startGatewayFile(t, writeConfig(t, long))

	// Before: a keep-alive connection idle for 500ms still serves.
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, getAssets)
	time.Sleep(500 * time.Millisecond)
	if r := roundTrip(t, c, br, getAssets); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}

	g.reloadTo(t, withServer(baseConfig(up.addr, ""), "read_timeout = \"300ms\"\nidle_timeout = \"300ms\""), 1)
	// The old connection was on the old settings: it is closed once idle
	// (the old server drains), and the client reconnects.
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection opened before the reload sent bytes")
	}

	t.Run("idle_timeout", func(t *testing.T) {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		roundTrip(t, c, br, getAssets)
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: %v, want EOF", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
			t.Fatalf("idle connection closed after %v, want about 300ms", d)
		}
	})
	t.Run("read_timeout", func(t *testing.T) {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		// Half a request head, then silence.
		if _, err := io.WriteString(c, "GET /v1/assets HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a stalled head: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "not received in time") {
			t.Fatalf("stalled head: %d %s", resp.StatusCode, b)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("answered after %v, want about 300ms", d)
		}
	})
}

func TestReloadMaxHeaderBytes(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := baseConfig(up.addr, "")
	g := startGatewayFile(t, writeConfig(t, cfg))
	big := "GET /v1/assets HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 6000) + "\r\n\r\n"
	if got := rawStatus(g.raw(t, big)); got != "200" {
		t.Fatalf("6 KB head under the default 16KiB: %s", got)
	}
	g.reloadTo(t, withServer(cfg, `max_header_bytes = "4KiB"`), 1)
	resp := g.raw(t, big)
	if rawStatus(resp) != "400" || !strings.Contains(rawBody(resp), "header_too_large") {
		t.Fatalf("6 KB head over max_header_bytes 4KiB:\n%s", resp)
	}
	if got := rawStatus(g.raw(t, getAssets)); got != "200" {
		t.Fatalf("small head: %s", got)
	}
}

func TestReloadTLSOnAndOff(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	dir := t.TempDir()
	c, k, _ := ca.issue(t, "gateway", []string{"localhost"}, false)
	writeFile(t, dir, "server.pem", c)
	writeFile(t, dir, "server.key", k)
	plain := baseConfig(up.addr, "")
	withTLS := withServer(plain, "tls_cert = \"server.pem\"\ntls_key = \"server.key\"")
	g := startGatewayFile(t, writeFile(t, dir, "config.toml", []byte(plain)))
	// New connections for every request, so each sees the listener's
	// state when it is accepted.
	tlsCl := tlsClient(ca, nil, 0)
	tlsCl.Transport.(*http.Transport).DisableKeepAlives = true
	plainCl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	if r, _ := get(t, plainCl, g.url("/v1/assets")); r.StatusCode != 200 {
		t.Fatalf("plain HTTP before: %d", r.StatusCode)
	}
	g.reloadTo(t, withTLS, 1)
	r, _ := get(t, tlsCl, "https://"+g.addr+"/v1/assets")
	if r.StatusCode != 200 || r.TLS == nil {
		t.Fatalf("HTTPS after TLS was turned on: %d", r.StatusCode)
	}
	if req, _ := up.lastRequest(); req.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("X-Forwarded-Proto = %q", req.Header.Get("X-Forwarded-Proto"))
	}
	if r, err := plainCl.Get(g.url("/v1/assets")); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP still served after TLS was turned on")
		}
	}

	g.reloadTo(t, plain, 2)
	if r, _ := get(t, plainCl, g.url("/v1/assets")); r.StatusCode != 200 {
		t.Fatalf("plain HTTP after TLS was turned off: %d", r.StatusCode)
	}
	if _, err := tlsCl.Get("https://" + g.addr + "/v1/assets"); err == nil {
		t.Fatal("a TLS handshake succeeded after TLS was turned off")
	}
}

func TestReloadTracingTurnedOn(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := newUpstream(t, echo)
	cfg := baseConfig(up.addr, "")
	g := startGatewayFile(t, writeConfig(t, cfg))
	g.reloadTo(t, strings.Replace(cfg, "[log]\n", fmt.Sprintf("[tracing]\nendpoint = %q\nsample_ratio = 0.0\n[log]\n", rc.url), 1), 1)
	const tid, pid = "5bf92f3577b34da6a3ce929d0e0e4737", "00f067aa0ba902b8"
	if r := g.do(t, "GET", "/v1/assets", "", "traceparent: "+traceparent(tid, pid, true)); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	spans := rc.trace(t, tid, 2) // the server span and the upstream attempt
	if len(spansOfKind(spans, tracepb.Span_SPAN_KIND_SERVER)) != 1 {
		t.Fatalf("spans after [tracing] was turned on: %v", spans)
	}
	// Off again: the replaced tracer retires in the background, and the
	// drain at exit flushes it without waiting out its retirement.
	g.reloadTo(t, cfg, 2)
	if r := g.do(t, "GET", "/v1/assets", "", "traceparent: "+traceparent(tid, pid, true)); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	start := time.Now()
	g.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the drain took %v", d)
	}
}

// The restart-only warning names exactly the restart-only keys that
// changed, not the others changed with them.
func TestReloadWarningNamesOnlyRestartOnlyKeys(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := opsConfig(up.addr, "", "")
	g := startGatewayFile(t, writeConfig(t, cfg))
	next := strings.Replace(cfg, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q\nread_timeout = \"9s\"\nmax_header_bytes = \"8KiB\"", deadAddr(t)), 1)
	next = strings.Replace(next, "[admin]\n", "[store]\nmemory_budget = \"64MiB\"\n[admin]\n", 1)
	next = strings.Replace(next, `format = "json"`, "format = \"json\"\nlevel = \"warn\"", 1)
	replaceFile(t, g.cfgPath, next)
	g.signal(syscall.SIGHUP)
	var settings []string
	eventually(t, "the warning", func() bool {
		sc := bufio.NewScanner(strings.NewReader(g.out.String()))
		for sc.Scan() {
			var line struct {
				Msg      string   `json:"msg"`
				Settings []string `json:"settings"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.Contains(line.Msg, "take effect only at the next start") {
				settings = line.Settings
				return true
			}
		}
		return false
	})
	if strings.Join(settings, ",") != "server.listen,store.memory_budget" {
		t.Fatalf("the warning names %v, want [server.listen store.memory_budget]", settings)
	}
	if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
		t.Fatalf("the running listener stopped serving: %d", r.StatusCode)
	}
}

// A new redis_password is used by the connections the Redis client opens
// after the reload (for the idempotency store and the rate limiter): the
// password is rotated on Redis, then in the gateway's file.
func TestReloadRedisPassword(t *testing.T) {
	srv := redistest.Start(t)
	srv.RequirePass("old-secret")
	up := newUpstream(t, echo)
	cfg := redisConfig(up.addr, []string{srv.Addr()}, "deny")
	withPassword := func(p string) string {
		return strings.Replace(cfg, "[store]\n", fmt.Sprintf("[store]\nredis_password = %q\n", p), 1)
	}
	g := startGatewayFile(t, writeConfig(t, withPassword("old-secret")))
	if r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k1"); r.StatusCode != 200 {
		t.Fatalf("before: status %d %s", r.StatusCode, r.body)
	}
	if r := g.do(t, "GET", "/v1/limited", ""); r.StatusCode != 200 {
		t.Fatalf("before: status %d %s", r.StatusCode, r.body)
	}
	// Redis takes a new password and drops every connection: the
	// gateway's new connections fail to authenticate.
	srv.RequirePass("new-secret")
	assertProblem(t, g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k2"), 503, "store_unavailable")
	assertProblem(t, g.do(t, "GET", "/v1/limited", ""), 429, "rate_limited") // deny on store error

	g.reloadTo(t, withPassword("new-secret"), 1)
	eventually(t, "the idempotency store back", func() bool {
		return g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k3").StatusCode == 200
	})
	eventually(t, "the limiter back", func() bool { return g.do(t, "GET", "/v1/limited", "").StatusCode == 200 })
}
