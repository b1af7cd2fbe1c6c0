package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// rawUpstream is an upstream on a raw TCP listener that counts the
// requests it read, by method, and answers each as serve says: serve gets
// the connection and the request's number on it (from 1) and returns
// false to stop reading from the connection.
type rawUpstream struct {
	addr string
	mu   sync.Mutex
	seen map[string]int
}

func newRawUpstream(t *testing.T, serve func(c *net.TCPConn, nth int) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: ln.Addr().String(), seen: map[string]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				for nth := 1; ; nth++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body) // the whole request was read
					u.mu.Lock()
					u.seen[r.Method]++
					u.mu.Unlock()
					if !serve(c.(*net.TCPConn), nth) {
						return
					}
				}
			}()
		}
	}()
	return u
}

func (u *rawUpstream) count(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[method]
}

// rawOK answers 200 and keeps the connection open.
func rawOK(c *net.TCPConn, _ int) bool {
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
	return err == nil
}

// rawReset resets the connection (RST) after reading the request, before
// any response byte.
func rawReset(c *net.TCPConn, _ int) bool {
	_ = c.SetLinger(0)
	_ = c.Close()
	return false
}

func failoverConfig(targets, extra string) string {
	return fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[log]
format = "json"
access = false
[[upstreams]]
name = "api"
targets = [%s]
connect_timeout = "300ms"
%s
[[routes]]
path = "/v1/*"
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
upstream = "api"
`, targets, extra)
}

func quoted(addrs ...string) string {
	s := ""
	for i, a := range addrs {
		if i > 0 {
			s += ", "
		}
		s += `"http://` + a + `"`
	}
	return s
}

type upstreamsView struct {
	Upstreams []struct {
		Name             string `json:"name"`
		Panic            bool   `json:"panic"`
		PanicRequests    uint64 `json:"panic_requests"`
		StaleConnections uint64 `json:"stale_connections"`
		Targets          []struct{ URL, State string }
		Retries          struct {
			OK           uint64 `json:"ok"`
			Failed       uint64 `json:"failed"`
			BudgetDenied uint64 `json:"budget_denied"`
		} `json:"retries"`
	} `json:"upstreams"`
}

func (g *gateway) upstreams(t *testing.T) upstreamsView {
	t.Helper()
	r, body := g.admin(t, "/upstreams")
	var v upstreamsView
	if err := json.Unmarshal([]byte(body), &v); err != nil || r.StatusCode != 200 || len(v.Upstreams) != 1 {
		t.Fatalf("/upstreams: %d %s (%v)", r.StatusCode, body, err)
	}
	return v
}

// TestOneTargetUpstreamKeepsServingOtherEndpoints: an application's 500s
// never eject its only target (eject_on = "gateway_errors"), and its 502s
// eject it but panic mode keeps it in use: the other endpoints go on
// answering 200, never 503 upstream_unavailable.
func TestOneTargetUpstreamKeepsServingOtherEndpoints(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/fails500":
			w.WriteHeader(500)
		case "/v1/fails502":
			w.WriteHeader(502)
		default:
			echo(w, r)
		}
	})
	g := startGateway(t, failoverConfig(quoted(up.addr), `eject_after = 5`))
	for i := 0; i < 20; i++ {
		assertProblem(t, g.do(t, "GET", "/v1/fails500", ""), 500, "upstream_500")
	}
	if r := g.do(t, "GET", "/v1/ok", ""); r.StatusCode != 200 {
		t.Fatalf("after 20 answers of 500: %d %s", r.StatusCode, r.body)
	}
	if v := g.upstreams(t).Upstreams[0]; v.Targets[0].State != "up" || v.Panic {
		t.Fatalf("500s changed the target's state: %+v", v)
	}

	for i := 0; i < 20; i++ {
		assertProblem(t, g.do(t, "GET", "/v1/fails502", ""), 500, "upstream_error")
	}
	v := g.upstreams(t).Upstreams[0]
	if v.Targets[0].State != "ejected" || !v.Panic || v.PanicRequests == 0 {
		t.Fatalf("after 20 answers of 502: %+v, want the target ejected and the pool in panic mode", v)
	}
	m := g.scrape(t)
	if m[`cobaltgw_upstream_panic{upstream="api"}`] != 1 || m[`cobaltgw_upstream_panic_requests_total{upstream="api"}`] < 1 {
		t.Fatalf("panic metrics: %v %v", m[`cobaltgw_upstream_panic{upstream="api"}`], m[`cobaltgw_upstream_panic_requests_total{upstream="api"}`])
	}
	for i := 0; i < 5; i++ {
		if r := g.do(t, "GET", "/v1/ok", ""); r.StatusCode != 200 {
			t.Fatalf("other endpoint after 502s: %d %s", r.StatusCode, r.body)
		}
	}
	// The answer in panic mode ended the ejection.
	if v := g.upstreams(t).Upstreams[0]; v.Targets[0].State != "up" || v.Panic {
		t.Fatalf("after a success in panic mode: %+v", v)
	}
}

// TestEjectOn5xxCountsApplicationErrors: eject_on = "5xx" with
// panic_threshold = 0 is the old strict behaviour: 500s eject the target
// and the upstream answers 503 at once.
func TestEjectOn5xxCountsApplicationErrors(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	g := startGateway(t, failoverConfig(quoted(up.addr), `eject_after = 3
eject_on = "5xx"
panic_threshold = 0`))
	for i := 0; i < 3; i++ {
		assertProblem(t, g.do(t, "GET", "/v1/x", ""), 500, "upstream_500")
	}
	assertProblem(t, g.do(t, "GET", "/v1/x", ""), 503, "upstream_unavailable")
	if n := up.count.Load(); n != 3 {
		t.Fatalf("the ejected target got %d requests, want 3", n)
	}
}

// TestPOSTIsNeverSentTwice: targets that read the whole request and then
// reset the connection. The POST may have been executed, so it is never
// resent: each client POST reaches the upstreams exactly once and the
// client gets 500 upstream_bad_response. A GET is retried once (retries =
// 1) on the other target.
func TestPOSTIsNeverSentTwice(t *testing.T) {
	a, b := newRawUpstream(t, rawReset), newRawUpstream(t, rawReset)
	g := startGateway(t, failoverConfig(quoted(a.addr, b.addr), `eject_after = 1000`))
	const n = 10
	for i := 0; i < n; i++ {
		assertProblem(t, g.do(t, "POST", "/v1/orders", `{"n":1}`, "Content-Type: application/json"), 500, "upstream_bad_response")
		assertProblem(t, g.do(t, "PATCH", "/v1/orders/1", `{"n":1}`, "Content-Type: application/json"), 500, "upstream_bad_response")
	}
	if got := a.count("POST") + b.count("POST"); got != n {
		t.Fatalf("%d client POSTs reached the upstreams %d times", n, got)
	}
	if got := a.count("PATCH") + b.count("PATCH"); got != n {
		t.Fatalf("%d client PATCHes reached the upstreams %d times", n, got)
	}
	for i := 0; i < n; i++ {
		assertProblem(t, g.do(t, "GET", "/v1/orders", ""), 500, "upstream_bad_response")
	}
	if got := a.count("GET") + b.count("GET"); got != 2*n {
		t.Fatalf("%d client GETs reached the upstreams %d times, want %d (one retry each)", n, got, 2*n)
	}
	if a.count("GET") == 0 || b.count("GET") == 0 {
		t.Fatalf("a retry did not go to the other target: %v %v", a.seen, b.seen)
	}
}

// TestGETRetriedOnResetBeforeFirstByte: one target resets every request
// after reading it; GETs (and PUT, DELETE) reach the client as 200 from the
// other target.
func TestGETRetriedOnResetBeforeFirstByte(t *testing.T) {
	bad, good := newRawUpstream(t, rawReset), newRawUpstream(t, rawOK)
	g := startGateway(t, failoverConfig(quoted(bad.addr, good.addr), `eject_after = 1000`))
	for i := 0; i < 6; i++ {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			if r := g.do(t, m, "/v1/x", ""); r.StatusCode != 200 {
				t.Fatalf("%s #%d: %d %s", m, i, r.StatusCode, r.body)
			}
		}
	}
	if bad.count("GET") == 0 || bad.count("PUT") == 0 || bad.count("DELETE") == 0 {
		t.Fatalf("the resetting target saw %v: no retry was exercised", bad.seen)
	}
	if v := g.upstreams(t).Upstreams[0]; v.Retries.OK == 0 || v.Retries.Failed != 0 {
		t.Fatalf("retry counters %+v", v.Retries)
	}
}

// TestIdleKeepAliveClosedByUpstreamDoesNotSurface: a one-target upstream
// closes each keep-alive connection 30 ms after answering (as Node.js
// does after its keepAliveTimeout). Requests that come later find their
// pooled connection closed; they go out on a new one, a POST too, once,
// even with retries = 0.
func TestIdleKeepAliveClosedByUpstreamDoesNotSurface(t *testing.T) {
	up := newRawUpstream(t, func(c *net.TCPConn, nth int) bool {
		rawOK(c, nth)
		time.Sleep(30 * time.Millisecond)
		return false // closed while idle
	})
	g := startGateway(t, failoverConfig(quoted(up.addr), `retries = 0`))
	methods := []string{"GET", "POST", "GET", "PATCH", "POST", "DELETE"}
	for i, m := range methods {
		time.Sleep(120 * time.Millisecond)
		if r := g.do(t, m, "/v1/x", "{}", "Content-Type: application/json"); r.StatusCode != 200 {
			t.Fatalf("%s #%d: %d %s", m, i, r.StatusCode, r.body)
		}
	}
	if up.count("POST") != 2 || up.count("PATCH") != 1 || up.count("GET") != 2 {
		t.Fatalf("upstream saw %v", up.seen)
	}
	if n := g.scrape(t)[`cobaltgw_upstream_stale_connections_total{upstream="api"}`]; n < float64(len(methods)-1) {
		t.Fatalf("stale connections counted %v, want %d", n, len(methods)-1)
	}
}

// TestNoRetryAfterTimeout: a target that reads the request and never
// answers: the GET times out (503 upstream_timeout) and is not sent to the
// other target, since the first may still be executing it.
func TestNoRetryAfterTimeout(t *testing.T) {
	hang := newRawUpstream(t, func(c *net.TCPConn, _ int) bool {
		_, _ = io.Copy(io.Discard, c) // until the gateway gives up and closes
		return false
	})
	good := newRawUpstream(t, rawOK)
	g := startGateway(t, failoverConfig(quoted(hang.addr, good.addr), `timeout = "300ms"
eject_after = 1000`))
	oks, timeouts := 0, 0
	for i := 0; i < 4; i++ {
		r := g.do(t, "GET", "/v1/x", "")
		switch r.StatusCode {
		case 200:
			oks++
		default:
			assertProblem(t, r, 503, "upstream_timeout")
			timeouts++
		}
	}
	if timeouts == 0 || good.count("GET") != oks || hang.count("GET") != timeouts {
		t.Fatalf("%d ok, %d timeouts; hanging target saw %d, good target %d", oks, timeouts, hang.count("GET"), good.count("GET"))
	}
}

// TestRetryBudgetIsRespected: with retry_budget = 0 only the floor of
// 3 retries a second over 10 s (30) is allowed; beyond it the GETs reset
// by one target reach the client as 500 instead of being retried.
func TestRetryBudgetIsRespected(t *testing.T) {
	bad, good := newRawUpstream(t, rawReset), newRawUpstream(t, rawOK)
	g := startGateway(t, failoverConfig(quoted(bad.addr, good.addr), `retry_budget = 0.0
eject_after = 100000`))
	const n = 100
	failed := 0
	for i := 0; i < n; i++ {
		r := g.do(t, "GET", "/v1/x", "")
		if r.StatusCode != 200 {
			assertProblem(t, r, 500, "upstream_bad_response")
			failed++
		}
	}
	v := g.upstreams(t).Upstreams[0]
	if v.Retries.OK > 30 || v.Retries.BudgetDenied == 0 || uint64(failed) != v.Retries.BudgetDenied {
		t.Fatalf("%d of %d failed; retries %+v, want at most 30 and the rest denied", failed, n, v.Retries)
	}
	if got := bad.count("GET") + good.count("GET"); got != n+int(v.Retries.OK) {
		t.Fatalf("upstreams saw %d GETs for %d requests and %d retries", got, n, v.Retries.OK)
	}
}

// TestConnectFailureRetriedForAnyMethod: a refused connect sent nothing,
// so a POST is retried on the other target like a GET; the live target
// sees each request once.
func TestConnectFailureRetriedForAnyMethod(t *testing.T) {
	live := newRawUpstream(t, rawOK)
	g := startGateway(t, failoverConfig(quoted(deadAddr(t), live.addr), `eject_after = 1000`))
	for i := 0; i < 6; i++ {
		for _, m := range []string{"POST", "PATCH", "GET"} {
			if r := g.do(t, m, "/v1/x", "{}", "Content-Type: application/json"); r.StatusCode != 200 {
				t.Fatalf("%s #%d: %d %s", m, i, r.StatusCode, r.body)
			}
		}
	}
	if live.count("POST") != 6 || live.count("PATCH") != 6 || live.count("GET") != 6 {
		t.Fatalf("live target saw %v", live.seen)
	}
	if v := g.upstreams(t).Upstreams[0]; v.Retries.OK == 0 {
		t.Fatalf("no retry counted: %+v", v.Retries)
	}
}
