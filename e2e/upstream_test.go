package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestDeadTargetIsEjected: with one of two targets dead, every GET still
// succeeds (connect failures are retried on the other target) and after
// eject_after failures the dead one is out of rotation.
func TestDeadTargetIsEjected(t *testing.T) {
	live := newUpstream(t, echo)
	dead := deadAddr(t)
	g := startGateway(t, fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[[upstreams]]
name = "api"
targets = ["http://%s", "http://%s"]
connect_timeout = "300ms"
eject_after = 2
eject_for = "30s"
[[routes]]
path = "/v1/*"
methods = ["GET", "POST"]
upstream = "api"
`, dead, live.addr))
	for i := 0; i < 20; i++ {
		if r := g.do(t, "GET", "/v1/x", ""); r.StatusCode != 200 {
			t.Fatalf("request %d: status %d %s", i, r.StatusCode, r.body)
		}
	}
	// Once the dead target is ejected every POST goes to the live one.
	for i := 0; i < 10; i++ {
		if r := g.do(t, "POST", "/v1/x", "{}"); r.StatusCode != 200 {
			t.Fatalf("POST %d after ejection: status %d %s", i, r.StatusCode, r.body)
		}
	}
	// The admin listener shows the state of each target.
	r, body := g.admin(t, "/upstreams")
	var got struct {
		Upstreams []struct {
			Name    string
			Targets []struct {
				URL, State, LastError string `json:",omitempty"`
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || r.StatusCode != 200 || len(got.Upstreams) != 1 {
		t.Fatalf("/upstreams: %d %s (%v)", r.StatusCode, body, err)
	}
	states := map[string]string{}
	for _, tg := range got.Upstreams[0].Targets {
		states[tg.URL] = tg.State
	}
	if states["http://"+dead] != "ejected" || states["http://"+live.addr] != "up" {
		t.Fatalf("target states %v\n%s", states, body)
	}
	if m := g.scrape(t); m[fmt.Sprintf(`cobaltgw_upstream_target_up{upstream="api",target="http://%s"}`, dead)] != 0 || m[fmt.Sprintf(`cobaltgw_upstream_target_up{upstream="api",target="http://%s"}`, live.addr)] != 1 {
		t.Fatalf("cobaltgw_upstream_target_up not as expected")
	}
}

// TestAllTargetsDownFailsFast: with every target dead and ejected and
// panic_threshold = 0, clients get 503 upstream_unavailable with
// Retry-After at once.
func TestAllTargetsDownFailsFast(t *testing.T) {
	g := startGateway(t, fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = ""
[[upstreams]]
name = "api"
targets = ["http://%s", "http://%s"]
connect_timeout = "300ms"
retries = 0
eject_after = 1
eject_for = "30s"
max_ejected = 1.0
panic_threshold = 0
[[routes]]
path = "/v1/*"
methods = ["GET"]
upstream = "api"
`, deadAddr(t), deadAddr(t)))
	for i := 0; i < 4; i++ {
		assertProblem(t, g.do(t, "GET", "/v1/x", ""), 503, "upstream_unavailable")
	}
	start := time.Now()
	r := g.do(t, "GET", "/v1/x", "")
	took := time.Since(start)
	assertProblem(t, r, 503, "upstream_unavailable")
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 30 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	// A generous bound: the point is no connect attempt (300ms) is made.
	if took > 250*time.Millisecond {
		t.Fatalf("answer took %s; an ejected fleet must fail fast", took)
	}
}

// TestHungTargetTimesOut: a target that accepts and never answers gives
// 503 upstream_timeout after the upstream's timeout.
func TestHungTargetTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	g := startGateway(t, fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = ""
[idempotency]
lock_timeout = "5s"
[[upstreams]]
name = "api"
targets = ["http://%s"]
timeout = "400ms"
[[routes]]
path = "/v1/*"
methods = ["GET"]
upstream = "api"
`, ln.Addr().String()))
	r := g.do(t, "GET", "/v1/x", "")
	assertProblem(t, r, 503, "upstream_timeout")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// TestActiveHealthCheck: a target failing its health_path is taken out of
// rotation by the checker even before any request fails on it.
func TestActiveHealthCheck(t *testing.T) {
	healthy := newUpstream(t, echo)
	sick := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(500)
			return
		}
		echo(w, r)
	})
	g := startGateway(t, fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = ""
[[upstreams]]
name = "api"
targets = ["http://%s", "http://%s"]
health_path = "/health"
health_interval = "100ms"
health_timeout = "100ms"
unhealthy_after = 1
[[routes]]
path = "/v1/*"
methods = ["GET"]
upstream = "api"
`, sick.addr, healthy.addr))
	deadline := time.Now().Add(5 * time.Second)
	for sick.count.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // wait for a few checks
	}
	before := sick.count.Load()
	for i := 0; i < 10; i++ {
		if r := g.do(t, "GET", "/v1/x", ""); r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	// Only health checks (at most a few in this window) reach the sick
	// target, no client request.
	if got := sick.count.Load() - before; got > 4 {
		t.Fatalf("the failing target received %d requests while out of rotation", got)
	}
}
