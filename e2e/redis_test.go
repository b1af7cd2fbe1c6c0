package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// redisConfig is a gateway config on the shared Redis store at addrs.
func redisConfig(up string, addrs []string, onError string) string {
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	return baseConfig(up, fmt.Sprintf(`
[store]
backend = "redis"
redis_addrs = [%s]
redis_timeout = "200ms"
rate_limit_on_store_error = %q

[idempotency]
lock_timeout = "5s"

[rate_limits.shared]
key = "route"
rate = 0.01
burst = 3

[[routes]]
path = "/v1/pay"
methods = ["POST", "GET"]
upstream = "api"

[[routes]]
path = "/v1/limited"
methods = ["GET"]
upstream = "api"
rate_limits = ["shared"]
`, strings.Join(quoted, ", "), onError))
}

// replicasShareState: two gateway processes on one store execute a key
// once between them and share a burst of 3.
func replicasShareState(t *testing.T, addrs []string) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			time.Sleep(200 * time.Millisecond)
		}
		echo(w, r)
	})
	cfg := redisConfig(up.addr, addrs, "local")
	a, b := startGateway(t, cfg), startGateway(t, cfg)

	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			g := a
			if i%2 == 1 {
				g = b
			}
			r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: one-key-two-replicas")
			mu.Lock()
			statuses[r.StatusCode]++
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[409] != n-1 || up.count.Load() != 1 {
		t.Fatalf("statuses %v, upstream executions %d; want one 200, %d×409, one execution", statuses, up.count.Load(), n-1)
	}

	admitted := 0
	for i := 0; i < 8; i++ {
		g := a
		if i%2 == 1 {
			g = b
		}
		r := g.do(t, "GET", "/v1/limited", "")
		switch r.StatusCode {
		case 200:
			admitted++
		case 429:
			assertProblem(t, r, 429, "rate_limited")
		default:
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	if admitted != 3 {
		t.Fatalf("admitted %d across two replicas, want exactly 3", admitted)
	}
}

func TestRedisReplicasShareState(t *testing.T) {
	srv := redistest.Start(t)
	replicasShareState(t, []string{srv.Addr()})
}

func TestRedisClusterReplicasShareState(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	replicasShareState(t, c.Addrs())
}

// TestRedisOutage: with Redis down, plain GETs keep working, idempotent
// POSTs get 503 store_unavailable (never forwarded), and service resumes
// when Redis is back, without restarting the gateway.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	up := newUpstream(t, echo)
	cfg := strings.Replace(redisConfig(up.addr, []string{srv.Addr()}, "deny"), "[admin]\nlisten = \"\"", "[admin]\nlisten = \"127.0.0.1:0\"", 1)
	g := startGateway(t, cfg)
	if r, body := g.admin(t, "/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz with Redis up: %d %s", r.StatusCode, body)
	}
	if r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: before"); r.StatusCode != 200 {
		t.Fatalf("status %d %s", r.StatusCode, r.body)
	}
	srv.Stop()
	if r := g.do(t, "GET", "/v1/pay", ""); r.StatusCode != 200 {
		t.Fatalf("plain GET during the outage: status %d %s", r.StatusCode, r.body)
	}
	before := up.count.Load()
	r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: during")
	assertProblem(t, r, 503, "store_unavailable")
	if r.Header.Get("Retry-After") == "" || up.count.Load() != before {
		t.Fatalf("Retry-After %q, forwarded %d", r.Header.Get("Retry-After"), up.count.Load()-before)
	}
	// rate_limit_on_store_error = "deny": limited routes refuse.
	assertProblem(t, g.do(t, "GET", "/v1/limited", ""), 429, "rate_limited")
	if r, body := g.admin(t, "/readyz"); r.StatusCode != 503 {
		t.Fatalf("readyz with Redis down: %d %s", r.StatusCode, body)
	}
	if m := g.scrape(t); m["cobaltgw_ratelimit_store_fallbacks_total"] < 1 || m["cobaltgw_ratelimit_redis_errors_total"] < 1 {
		t.Fatalf("fallbacks %v errors %v", m["cobaltgw_ratelimit_store_fallbacks_total"], m["cobaltgw_ratelimit_redis_errors_total"])
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: after")
		if r.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: status %d %s", r.StatusCode, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r, body := g.admin(t, "/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz after Redis is back: %d %s", r.StatusCode, body)
	}
}

// TestRedisStartWhileDown: a gateway started while Redis is down (a single
// server, or every seed node of a Cluster) starts and serves, answers
// keyed POSTs 503 store_unavailable without forwarding them, decides rate
// limits by rate_limit_on_store_error, reports not ready, and uses Redis
// once it comes up, without a restart (README.md, "Several replicas:
// Redis").
func TestRedisStartWhileDown(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		name := "single server"
		if cluster {
			name = "cluster seeds"
		}
		t.Run(name, func(t *testing.T) {
			srvs := []*redistest.Server{redistest.Start(t)}
			if cluster {
				srvs = append(srvs, redistest.Start(t))
			}
			var addrs []string
			for _, s := range srvs {
				addrs = append(addrs, s.Addr())
				s.Stop()
			}
			up := newUpstream(t, echo)
			cfg := strings.Replace(redisConfig(up.addr, addrs, "deny"), "[admin]\nlisten = \"\"", "[admin]\nlisten = \"127.0.0.1:0\"", 1)
			g := startGateway(t, cfg)
			if r := g.do(t, "GET", "/v1/pay", ""); r.StatusCode != 200 {
				t.Fatalf("plain GET with Redis down: %d %s", r.StatusCode, r.body)
			}
			start := time.Now()
			r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k1")
			assertProblem(t, r, 503, "store_unavailable")
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("a keyed POST took %v with Redis down (redis_timeout 200ms)", took)
			}
			if up.count.Load() != 1 {
				t.Fatalf("upstream saw %d requests, want only the GET", up.count.Load())
			}
			assertProblem(t, g.do(t, "GET", "/v1/limited", ""), 429, "rate_limited")
			if r, body := g.admin(t, "/readyz"); r.StatusCode != 503 {
				t.Fatalf("readyz with Redis down: %d %s", r.StatusCode, body)
			}
			if cluster {
				// Seed nodes that answer, but are no Cluster yet: a
				// single server behind the first seed would take the
				// keys. Only a single server is brought up below.
				return
			}
			srvs[0].Restart()
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k1")
				if r.StatusCode == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after Redis came up: status %d %s", r.StatusCode, r.body)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// The key is used now (on_reuse = "conflict"): 409, not run again.
			if r := g.do(t, "POST", "/v1/pay", "{}", "Idempotency-Key: k1"); r.StatusCode != 409 || up.count.Load() != 2 {
				t.Fatalf("the key again: status %d, upstream executions %d", r.StatusCode, up.count.Load()-1)
			}
			if r, body := g.admin(t, "/readyz"); r.StatusCode != 200 {
				t.Fatalf("readyz after Redis came up: %d %s", r.StatusCode, body)
			}
			if r := g.do(t, "GET", "/v1/limited", ""); r.StatusCode != 200 {
				t.Fatalf("limited GET after Redis came up: %d %s", r.StatusCode, r.body)
			}
		})
	}
}
