package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/promtest"
)

// opsConfig is baseConfig with the admin listener on a free loopback port
// and extra [server] keys (e.g. "watch = true\n").
func opsConfig(up, server, extra string) string {
	c := baseConfig(up, extra)
	c = strings.Replace(c, "[admin]\nlisten = \"\"", "[admin]\nlisten = \"127.0.0.1:0\"", 1)
	return strings.Replace(c, "[server]\n", "[server]\n"+server, 1)
}

// adminAddr finds the admin listener's address in the gateway's log line
// {"msg":"admin listening","addr":"127.0.0.1:…"}, which lifecycle writes
// before the main "listening" line.
func (g *gateway) adminAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(g.out.String()))
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "admin listening" {
				return line.Addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"admin listening\" log line:\n%s", g.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// admin GETs path on the admin listener.
func (g *gateway) admin(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get("http://" + g.adminAddr(t) + path)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// scrape reads /metrics into samples keyed by series as written
// (`name{label="value",…}`).
func (g *gateway) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, body := g.admin(t, "/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s, err := promtest.Samples(body)
	if err != nil {
		t.Fatalf("bad exposition: %v", err)
	}
	return s
}

func TestOpsProbes(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, opsConfig(up.addr, "", ""))
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		resp, body := g.admin(t, path)
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	// The admin listener is not the client listener: the contract's
	// routes are not there, and the probes are not on the client port.
	if r := g.do(t, "GET", "/healthz", ""); r.StatusCode != 404 {
		t.Fatalf("/healthz on the client port: %d", r.StatusCode)
	}
}

func TestOpsMetricsMoveWithTraffic(t *testing.T) {
	up := newUpstream(t, echo)
	dead := deadAddr(t)
	g := startGateway(t, opsConfig(up.addr, "", `
[[upstreams]]
name = "dead"
targets = ["http://`+dead+`"]
connect_timeout = "200ms"
retries = 0

[[routes]]
path = "/v1/dead"
methods = ["GET"]
upstream = "dead"
`))
	before := g.scrape(t)
	for i := 0; i < 5; i++ {
		if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
			t.Fatalf("GET /v1/assets: %d", r.StatusCode)
		}
	}
	for i := 0; i < 2; i++ {
		assertProblem(t, g.do(t, "GET", "/nowhere/"+strconv.Itoa(i), ""), 404, "route_not_found")
	}
	assertProblem(t, g.do(t, "PATCH", "/v1/assets", ""), 405, "method_not_allowed")
	assertProblem(t, g.do(t, "GET", "/v1/dead", ""), 503, "upstream_unavailable")
	after := g.scrape(t)

	moved := map[string]float64{
		`cobaltgw_requests_total{route="/v1/assets",method="GET",status="200",code=""}`:                     5,
		`cobaltgw_requests_total{route="(none)",method="GET",status="404",code="route_not_found"}`:          2,
		`cobaltgw_requests_total{route="/v1/assets",method="PATCH",status="405",code="method_not_allowed"}`: 1,
		`cobaltgw_requests_total{route="/v1/dead",method="GET",status="503",code="upstream_unavailable"}`:   1,
		`cobaltgw_request_duration_seconds_count{route="/v1/assets"}`:                                       6,
		`cobaltgw_request_duration_seconds_bucket{route="/v1/assets",le="+Inf"}`:                            6,
		`cobaltgw_upstream_duration_seconds_count{upstream="api"}`:                                          5,
		`cobaltgw_upstream_errors_total{upstream="dead",kind="unavailable"}`:                                1,
	}
	for k, want := range moved {
		if got := after[k] - before[k]; got != want {
			t.Errorf("%s moved by %v, want %v", k, got, want)
		}
	}
	for _, k := range []string{`cobaltgw_inflight_requests`, `cobaltgw_idempotency_total{result="claimed"}`,
		`cobaltgw_config_reloads_total{result="ok"}`, `cobaltgw_upstream_target_up{upstream="api",target="http://` + up.addr + `"}`,
		`process_start_time_seconds`, `go_goroutines`} {
		if _, ok := after[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	// Labels are bounded: a raw request path never becomes a label.
	for k := range after {
		if strings.Contains(k, "/nowhere") {
			t.Fatalf("a raw path became a label: %s", k)
		}
	}
}

// TestOpsConfigRedactsSecrets: /config on the admin listener shows the
// running config without its secrets: the Redis password (here from the
// environment), token digests and X-Org-Token values (auth.tokens[].orgs);
// everything else, ids and scopes of the tokens included, is shown.
func TestOpsConfigRedactsSecrets(t *testing.T) {
	up := newUpstream(t, echo)
	const password = "pa55-from-the-environment"
	const digest = "cafa8b67af892c597ba51e097b00a8dcb7bac09a3ac2403b5a8a700bb4c37b3a"
	const digest2 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	orgs := []string{"org-s3cr3t-alpha", "org-s3cr3t-beta"}
	cfg := opsConfig(up.addr, "", `
[store]
redis_password = "${COBALTGW_E2E_REDIS_PASSWORD}"

[auth]
realm = "ops realm"
[[auth.tokens]]
id = "writer"
sha256 = "`+digest+`"
scopes = ["assets:write"]
orgs = ["`+orgs[0]+`", "`+orgs[1]+`"]
[[auth.tokens]]
id = "reader"
sha256 = "`+digest2+`"
scopes = ["assets:read"]
`)
	g := startGatewayFile(t, writeConfig(t, cfg), "COBALTGW_E2E_REDIS_PASSWORD="+password)
	resp, body := g.admin(t, "/config")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/toml" {
		t.Fatalf("/config: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, secret := range []string{password, digest, digest[:16], digest2, digest2[:16], "demo-writer-token", orgs[0], orgs[1], "s3cr3t"} {
		if strings.Contains(body, secret) {
			t.Fatalf("/config shows %q:\n%s", secret, body)
		}
	}
	for _, want := range []string{
		"redis_password = '<redacted>'", "sha256 = '<redacted>'", "orgs = ['<redacted>']",
		"id = 'writer'", "id = 'reader'", "'assets:write'", "'assets:read'", "realm = 'ops realm'",
		"path = '/v1/assets'", "path = '/v1/assets/*'", "name = 'api'", up.addr, "listen = '127.0.0.1:0'",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("/config lacks %q:\n%s", want, body)
		}
	}
	// The token with orgs shows one redacted item; the one without, none.
	if strings.Count(body, "orgs = ['<redacted>']") != 1 || !strings.Contains(body, "orgs = []") {
		t.Fatalf("/config orgs, want one redacted list and one empty:\n%s", body)
	}
}

func TestOpsRateLimitMetrics(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := opsConfig(up.addr, "", `
[rate_limits.tiny]
key = "ip"
rate = 0.001
burst = 2

[[routes]]
path = "/v1/limited"
methods = ["GET"]
upstream = "api"
rate_limits = ["tiny"]
`)
	g := startGateway(t, cfg)
	for i := 0; i < 2; i++ {
		if r := g.do(t, "GET", "/v1/limited", ""); r.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	assertProblem(t, g.do(t, "GET", "/v1/limited", ""), 429, "rate_limited")
	s := g.scrape(t)
	if got := s[`cobaltgw_requests_total{route="/v1/limited",method="GET",status="429",code="rate_limited"}`]; got != 1 {
		t.Fatalf("429s counted: %v", got)
	}
	if s[`cobaltgw_ratelimit_buckets_created_total`] < 1 || s[`cobaltgw_ratelimit_cache_max_bytes`] <= 0 {
		t.Fatalf("limiter cache metrics: created=%v max=%v", s[`cobaltgw_ratelimit_buckets_created_total`], s[`cobaltgw_ratelimit_cache_max_bytes`])
	}
	if got := s[`cobaltgw_ratelimit_rejections_total{policy="tiny"}`]; got != 1 {
		t.Fatalf("rejections by tiny = %v, want 1", got)
	}
}
