package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// keepAliveConn opens a connection and completes one request on it, so
// the gateway has accepted and counted it; the connection stays open.
func keepAliveConn(t *testing.T, g *gateway) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return c
}

// refusedConn sends a request on a new connection and expects 503
// overloaded as a contract body with Retry-After, then the close.
func refusedConn(t *testing.T, g *gateway) {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /v1/assets HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != 503 || json.Unmarshal(body, &m) != nil || m["code"] != "overloaded" || m["request_id"] != resp.Header.Get("X-Request-Id") {
		t.Fatalf("refusal: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") {
		t.Fatalf("refusal headers: %v", resp.Header)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the refused connection was not closed: %v", err)
	}
}

func TestConnectionCaps(t *testing.T) {
	up := newUpstream(t, echo)
	t.Run("max_conns", func(t *testing.T) {
		g := startGateway(t, strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nmax_conns = 2", 1))
		a := keepAliveConn(t, g)
		keepAliveConn(t, g)
		before := up.count.Load()
		refusedConn(t, g)
		if up.count.Load() != before {
			t.Fatal("a refused connection's request reached the upstream")
		}
		a.Close() // its place is given back
		eventually(t, "a place after a close", func() bool {
			c, err := net.Dial("tcp", g.addr)
			if err != nil {
				return false
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = io.WriteString(c, "GET /v1/assets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			return err == nil && resp.StatusCode == 200
		})
	})
	t.Run("max_conns_per_ip", func(t *testing.T) {
		g := startGateway(t, strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nmax_conns_per_ip = 1", 1))
		keepAliveConn(t, g)
		refusedConn(t, g)
	})
}

// TestMaxConcurrentBeforeBody: over max_concurrent, a request is refused
// (503 overloaded) before its body has arrived: once its head and the
// first 8 KiB of the body (fasthttp's pre-read) are in.
func TestMaxConcurrentBeforeBody(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/assets/slow" {
			<-release
		}
		w.WriteHeader(200)
	})
	defer close(release)
	g := startGateway(t, strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nmax_concurrent = 1", 1))
	go func() {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /v1/assets/slow HTTP/1.1\r\nHost: x\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
	}()
	eventually(t, "the slow request upstream", func() bool { return up.count.Load() == 1 })
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The head promises 100000 bytes; 9000 come, the rest never does.
	_, _ = io.WriteString(c, "POST /v1/assets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat(" ", 9000))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"overloaded"`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	if up.count.Load() != 1 {
		t.Fatal("the refused request reached the upstream")
	}
}
