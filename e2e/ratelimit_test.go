package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func limitConfig(up, extra string) string {
	return baseConfig(up, fmt.Sprintf(`
[rate_limits.per_ip]
key = "ip"
rate = 0.01
burst = 3

[rate_limits.per_token]
key = "token"
rate = 0.01
burst = 2
legacy_headers = true

[rate_limits.roomy]
key = "ip"
rate = 100
burst = 50

[rate_limits.by_tenant]
key = "header:X-Tenant"
rate = 0.01
burst = 1

[auth]
[[auth.tokens]]
id = "alice"
sha256 = "%s"

[[routes]]
path = "/v1/limited"
methods = ["GET"]
upstream = "api"
rate_limits = ["per_ip"]

[[routes]]
path = "/v1/two"
methods = ["GET"]
upstream = "api"
rate_limits = ["roomy", "per_token"]
auth = true

[[routes]]
path = "/v1/tenant"
methods = ["GET"]
upstream = "api"
rate_limits = ["by_tenant"]
%s`, digest("alice-token"), extra))
}

func TestRateLimitBurstThen429(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, limitConfig(up.addr, ""))
	for i := 0; i < 3; i++ {
		r := g.do(t, "GET", "/v1/limited", "")
		if r.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, r.StatusCode)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"per_ip";q=3;w=300` {
			t.Fatalf("RateLimit-Policy = %q", got)
		}
		want := fmt.Sprintf(`"per_ip";r=%d;t=`, 2-i)
		if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, want) {
			t.Fatalf("request %d: RateLimit = %q, want prefix %q", i, got, want)
		}
	}
	before := up.count.Load()
	r := g.do(t, "GET", "/v1/limited", "")
	assertProblem(t, r, 429, "rate_limited")
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	// One token at 0.01/s takes 100 s to come back.
	if err != nil || ra < 99 || ra > 100 {
		t.Fatalf("Retry-After = %q, want about 100", r.Header.Get("Retry-After"))
	}
	if got := r.Header.Get("RateLimit"); got != fmt.Sprintf(`"per_ip";r=0;t=%d`, ra) {
		t.Fatalf("RateLimit on 429 = %q (Retry-After %d)", got, ra)
	}
	if up.count.Load() != before {
		t.Fatal("a limited request reached the upstream")
	}
	if m := r.json(t); m["retry_after"] != float64(ra) {
		t.Fatalf("retry_after = %v", m["retry_after"])
	}
}

func TestRateLimitSpoofedForwardedForIgnored(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, limitConfig(up.addr, ""))
	for i := 0; i < 3; i++ {
		g.do(t, "GET", "/v1/limited", "", fmt.Sprintf("X-Forwarded-For: 10.0.0.%d", i))
	}
	r := g.do(t, "GET", "/v1/limited", "", "X-Forwarded-For: 10.9.9.9")
	assertProblem(t, r, 429, "rate_limited")
}

func TestRateLimitTrustedProxyKeysByClient(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := strings.Replace(limitConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1/32\"]", 1)
	g := startGateway(t, cfg)
	for i := 0; i < 3; i++ {
		if r := g.do(t, "GET", "/v1/limited", "", "X-Forwarded-For: 203.0.113.1"); r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	assertProblem(t, g.do(t, "GET", "/v1/limited", "", "X-Forwarded-For: 203.0.113.1"), 429, "rate_limited")
	// Another client behind the same proxy has its own bucket.
	if r := g.do(t, "GET", "/v1/limited", "", "X-Forwarded-For: 203.0.113.2"); r.StatusCode != 200 {
		t.Fatalf("second client: status %d", r.StatusCode)
	}
}

func TestRateLimitSeveralPolicies(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, limitConfig(up.addr, ""))
	auth := "Authorization: Bearer alice-token"
	for i := 0; i < 2; i++ {
		r := g.do(t, "GET", "/v1/two", "", auth)
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
		if got := r.Header.Get("RateLimit-Policy"); got != `"roomy";q=50;w=1, "per_token";q=2;w=200` {
			t.Fatalf("RateLimit-Policy = %q", got)
		}
		// The tightest policy is reported, with legacy fields for it.
		if got := r.Header.Get("RateLimit"); !strings.HasPrefix(got, fmt.Sprintf(`"per_token";r=%d;`, 1-i)) {
			t.Fatalf("RateLimit = %q", got)
		}
		if r.Header.Get("X-RateLimit-Limit") != "2" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("legacy fields %q %q", r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	assertProblem(t, g.do(t, "GET", "/v1/two", "", auth), 429, "rate_limited")
	// Unauthenticated requests are refused with 401 before the token policy,
	// and the ip policy ran first.
	r := g.do(t, "GET", "/v1/two", "")
	assertProblem(t, r, 401, "missing_token")
	if r.Header.Get("RateLimit-Policy") == "" {
		t.Fatal("a limited route's 401 lacks RateLimit-Policy")
	}
}

func TestRateLimitHeaderKey(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, limitConfig(up.addr, ""))
	if r := g.do(t, "GET", "/v1/tenant", "", "X-Tenant: a"); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	assertProblem(t, g.do(t, "GET", "/v1/tenant", "", "X-Tenant: a"), 429, "rate_limited")
	if r := g.do(t, "GET", "/v1/tenant", "", "X-Tenant: b"); r.StatusCode != 200 {
		t.Fatalf("other tenant: status %d", r.StatusCode)
	}
}

func TestRateLimitUpstreamFieldsKept(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Policy", `"upstream";q=10;w=60`)
		w.Header().Set("RateLimit", `"upstream";r=9;t=60`)
		echo(w, r)
	})
	g := startGateway(t, limitConfig(up.addr, ""))
	r := g.do(t, "GET", "/v1/limited", "")
	if p := r.Header.Values("RateLimit-Policy"); len(p) != 2 || p[0] != `"upstream";q=10;w=60` || p[1] != `"per_ip";q=3;w=300` {
		t.Fatalf("RateLimit-Policy = %q", p)
	}
	if v := r.Header.Values("RateLimit"); len(v) != 2 || v[0] != `"upstream";r=9;t=60` {
		t.Fatalf("RateLimit = %q", v)
	}
}

// TestRateLimitSurvivesReload: a client that spent its burst does not get
// it back when SIGHUP reloads a config whose policy numbers changed.
func TestRateLimitSurvivesReload(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, limitConfig(up.addr, ""))
	for i := 0; i < 3; i++ {
		g.do(t, "GET", "/v1/limited", "")
	}
	assertProblem(t, g.do(t, "GET", "/v1/limited", ""), 429, "rate_limited")
	cfg := strings.Replace(limitConfig(up.addr, ""), "burst = 3", "burst = 4", 1)
	if err := os.WriteFile(g.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(g.out.String(), "config reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no reload logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := g.do(t, "GET", "/v1/limited", "")
	assertProblem(t, r, 429, "rate_limited")
	if got := r.Header.Get("RateLimit-Policy"); got != `"per_ip";q=4;w=400` {
		t.Fatalf("RateLimit-Policy after reload = %q", got)
	}
}
