package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsUpstream is a WebSocket echo server; it also answers plain requests.
func wsUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			w.Header().Set("X-Saw-Upgrade", "no")
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ok":true}`)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo: "), b...)); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func wsConfig(up string) string {
	return baseConfig(up, fmt.Sprintf(`
[auth]
realm = "cobalt api"

[[auth.tokens]]
id = "reader"
sha256 = "%s"
scopes = ["ws"]

[[routes]]
path = "/v1/ws"
methods = ["GET"]
upstream = "api"
auth = true
scopes = ["ws"]
websocket = true
websocket_idle_timeout = "1s"
`, digest("ws-token")))
}

// TestWebSocket: an echo through an authenticated websocket route; an
// unauthenticated upgrade gets the 401 contract body; on a route without
// websocket = true the Upgrade field is removed (a plain request reaches
// the upstream); a tunnel silent both ways for websocket_idle_timeout is
// closed.
func TestWebSocket(t *testing.T) {
	up := wsUpstream(t)
	g := startGateway(t, strings.Replace(wsConfig(up), "[admin]\nlisten = \"\"", "[admin]\nlisten = \"127.0.0.1:0\"", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, resp, err := websocket.Dial(ctx, "ws://"+g.addr+"/v1/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer ws-token"}},
	})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("the 101 carries no X-Request-Id")
	}
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != "echo: "+msg {
			t.Fatalf("got %q", b)
		}
	}
	if n := g.scrape(t)["cobaltgw_websocket_tunnels"]; n != 1 {
		t.Errorf("cobaltgw_websocket_tunnels = %v with one tunnel open", n)
	}
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for g.scrape(t)["cobaltgw_websocket_tunnels"] != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the tunnel gauge did not return to 0 after the close")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// No token: every check of the route runs first; a 401 is a contract
	// body, not a failed handshake.
	r := g.do(t, "GET", "/v1/ws", "", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	assertProblem(t, r, 401, "missing_token")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without a challenge")
	}

	// A route without websocket = true: Upgrade is hop-by-hop.
	r = g.do(t, "GET", "/v1/assets", "", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if r.StatusCode != 200 || r.Header.Get("X-Saw-Upgrade") != "no" {
		t.Fatalf("plain route: %d %v", r.StatusCode, r.Header)
	}

	// Idle both ways for websocket_idle_timeout (1s): closed.
	c, _, err = websocket.Dial(ctx, "ws://"+g.addr+"/v1/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer ws-token"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = c.Read(ctx)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("idle tunnel: read returned %v after %v", err, time.Since(start))
	}
}

// TestWebSocketDrain: a drain gives an open tunnel shutdown_grace, then
// closes it, and the gateway exits.
func TestWebSocketDrain(t *testing.T) {
	up := wsUpstream(t)
	cfg := strings.Replace(wsConfig(up), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"", 1)
	cfg = strings.Replace(cfg, `websocket_idle_timeout = "1s"`, `websocket_idle_timeout = "60s"`, 1)
	g := startGateway(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+g.addr+"/v1/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer ws-token"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	g.signal(syscall.SIGTERM)
	// The tunnel still works within the grace.
	if err := c.Write(ctx, websocket.MessageText, []byte("during drain")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != "echo: during drain" {
		t.Fatalf("during the grace: %q %v", b, err)
	}
	// Then it is closed, and the process exits.
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the tunnel outlived the drain")
	}
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit")
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 6*time.Second {
		t.Fatalf("drain took %v with shutdown_grace = 1s", d)
	}
}
