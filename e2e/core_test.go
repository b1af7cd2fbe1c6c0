package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRoutingStatuses(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, `
[[routes]]
path = "/v1/legacy"
methods = ["GET"]
gone = true

[[routes]]
path = "/v1/retired"
methods = ["GET"]
upstream = "api"
sunset = "2020-01-01T00:00:00Z"
sunset_link = "https://docs.example.com/retired"

[[routes]]
path = "/v1/coffee"
methods = ["GET"]
teapot = true

[[routes]]
path = "/v1/billing/*"
methods = ["GET"]
upstream = "api"
maintenance = true

[[routes]]
path = "/v1/reports"
methods = ["GET"]
upstream = "api"
produces = ["text/csv"]
`))
	cases := []struct {
		name, method, path string
		headers            []string
		status             int
		code               string
	}{
		{"no route is 404", "GET", "/nope", nil, 404, "route_not_found"},
		{"prefix route does not match a longer name", "GET", "/v1/assetsX", nil, 404, "route_not_found"},
		{"method outside the set is 405", "PATCH", "/v1/assets", nil, 405, "method_not_allowed"},
		{"gone route is 410 for any method", "DELETE", "/v1/legacy", nil, 410, "endpoint_gone"},
		{"past sunset is 410", "GET", "/v1/retired", nil, 410, "endpoint_gone"},
		{"BREW is 418", "BREW", "/v1/assets", nil, 418, "teapot"},
		{"WHEN is 418 even without a route", "WHEN", "/nope", nil, 418, "teapot"},
		{"teapot route is 418", "GET", "/v1/coffee", nil, 418, "teapot"},
		{"maintenance route is 503", "GET", "/v1/billing/invoices", nil, 503, "maintenance"},
		{"Accept without the produced type is 406", "GET", "/v1/reports", []string{"Accept: application/json"}, 406, "not_acceptable"},
		{"json q=0 with */* is 406", "GET", "/v1/assets", []string{"Accept: application/json;q=0, */*"}, 406, "not_acceptable"},
		{"malformed Accept is 400", "GET", "/v1/assets", []string{"Accept: application/json;q=abc"}, 400, "malformed_request"},
		{"encoded slash is 400", "GET", "/v1/assets%2F1", nil, 400, "malformed_request"},
		{"encoded NUL is 400", "GET", "/v1/assets/%00", nil, 400, "malformed_request"},
		{"encoded backslash is 400", "GET", "/v1/assets/%5c", nil, 400, "malformed_request"},
		{"404 before 405: unknown path with odd method", "PATCH", "/nope", nil, 404, "route_not_found"},
		{"405 before 406", "PATCH", "/v1/assets", []string{"Accept: text/html"}, 405, "method_not_allowed"},
		{"503 maintenance before 406", "GET", "/v1/billing/x", []string{"Accept: text/html"}, 503, "maintenance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			r := g.do(t, tc.method, tc.path, "", tc.headers...)
			assertProblem(t, r, tc.status, tc.code)
			if up.count.Load() != before {
				t.Fatal("a refused request reached the upstream")
			}
		})
	}

	t.Run("405 carries Allow with HEAD and OPTIONS", func(t *testing.T) {
		r := g.do(t, "PATCH", "/v1/assets", "")
		if got := r.Header.Get("Allow"); got != "GET, POST, HEAD, OPTIONS" {
			t.Fatalf("Allow = %q", got)
		}
	})
	t.Run("OPTIONS is 204 with Allow", func(t *testing.T) {
		r := g.do(t, "OPTIONS", "/v1/assets/7", "")
		if r.StatusCode != 204 || r.Header.Get("Allow") != "GET, PUT, DELETE, HEAD, OPTIONS" {
			t.Fatalf("status %d Allow %q", r.StatusCode, r.Header.Get("Allow"))
		}
	})
	t.Run("HEAD allowed wherever GET is, no body", func(t *testing.T) {
		r := g.do(t, "HEAD", "/v1/assets", "")
		if r.StatusCode != 200 || len(r.body) != 0 {
			t.Fatalf("status %d body %q", r.StatusCode, r.body)
		}
		if req, _ := up.lastRequest(); req.Method != "HEAD" {
			t.Fatalf("upstream saw %s", req.Method)
		}
	})
	t.Run("HEAD error has headers and no body", func(t *testing.T) {
		r := g.do(t, "HEAD", "/nope", "")
		assertProblem(t, r, 404, "")
	})
	t.Run("maintenance carries Retry-After", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/billing/x", "")
		if r.Header.Get("Retry-After") != "120" {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	})
	t.Run("410 after sunset carries Sunset and Link", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/retired", "")
		if r.Header.Get("Sunset") != "Wed, 01 Jan 2020 00:00:00 GMT" || !strings.Contains(r.Header.Get("Link"), `rel="sunset"`) {
			t.Fatalf("Sunset %q Link %q", r.Header.Get("Sunset"), r.Header.Get("Link"))
		}
	})
	t.Run("406 lists what the route produces", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/reports", "", "Accept: application/json")
		m := r.json(t)
		acc, _ := m["acceptable"].([]any)
		if len(acc) != 1 || acc[0] != "text/csv" {
			t.Fatalf("acceptable = %v", m["acceptable"])
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("error body must be JSON whatever the route produces: %q", r.Header.Get("Content-Type"))
		}
	})
	t.Run("problem+json when preferred", func(t *testing.T) {
		r := g.do(t, "GET", "/nope", "", "Accept: application/problem+json, application/json;q=0.5")
		assertProblem(t, r, 404, "route_not_found")
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("Content-Type = %q", ct)
		}
	})
	t.Run("client request id echoed, insane one replaced", func(t *testing.T) {
		r := g.do(t, "GET", "/nope", "", "X-Request-Id: abc-123")
		if r.Header.Get("X-Request-Id") != "abc-123" || r.json(t)["request_id"] != "abc-123" {
			t.Fatalf("request id %q", r.Header.Get("X-Request-Id"))
		}
		r = g.do(t, "GET", "/nope", "", `X-Request-Id: <script>"`)
		if id := r.Header.Get("X-Request-Id"); id == "" || strings.ContainsAny(id, `<>"`) {
			t.Fatalf("request id %q", id)
		}
	})
}

func TestForwarding(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, `
[[routes]]
path = "/v2/*"
methods = ["GET"]
upstream = "api"
strip_prefix = "/v2"
deprecation = "2020-01-01T00:00:00Z"
sunset = "2099-01-01T00:00:00Z"
`))
	t.Run("normalized path reaches the upstream", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/assets/../assets//a/./b/%7Ex?q=1%2F2", "")
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
		req, _ := up.lastRequest()
		if req.RequestURI != "/v1/assets/a/b/~x?q=1%2F2" {
			t.Fatalf("upstream saw %q", req.RequestURI)
		}
	})
	t.Run("dot segments cannot escape a route", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/assets/%2e%2e/%2e%2e/admin", "")
		assertProblem(t, r, 404, "route_not_found")
	})
	t.Run("strip_prefix", func(t *testing.T) {
		r := g.do(t, "GET", "/v2/things?x=1", "")
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		req, _ := up.lastRequest()
		if req.RequestURI != "/things?x=1" {
			t.Fatalf("upstream saw %q", req.RequestURI)
		}
		if r.Header.Get("Deprecation") != "@1577836800" || r.Header.Get("Sunset") != "Thu, 01 Jan 2099 00:00:00 GMT" {
			t.Fatalf("Deprecation %q Sunset %q", r.Header.Get("Deprecation"), r.Header.Get("Sunset"))
		}
	})
	t.Run("hop-by-hop and gateway-owned headers are not forwarded", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/assets", "",
			"Connection: X-Secret, keep-alive", "X-Secret: 1", "Keep-Alive: timeout=5", "Upgrade: h2c",
			"Proxy-Authorization: Basic eA==", "X-Consumer-Id: admin", "x_consumer_id: admin", "X-Client-Cert-Subject: CN=admin",
			"X-Other: kept")
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		req, _ := up.lastRequest()
		for _, h := range []string{"X-Secret", "Keep-Alive", "Upgrade", "Proxy-Authorization", "X-Consumer-Id", "X_consumer_id", "X-Client-Cert-Subject"} {
			if v := req.Header.Values(h); len(v) > 0 {
				t.Errorf("upstream received %s: %v", h, v)
			}
		}
		if req.Header.Get("X-Other") != "kept" {
			t.Errorf("X-Other lost")
		}
	})
	t.Run("X-Forwarded-For from an untrusted peer is replaced", func(t *testing.T) {
		g.do(t, "GET", "/v1/assets", "", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https", "X-Forwarded-Host: evil.example")
		req, _ := up.lastRequest()
		if got := req.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q", got)
		}
		if req.Header.Get("X-Forwarded-Proto") != "http" || req.Header.Get("X-Forwarded-Host") != g.addr {
			t.Fatalf("X-Forwarded-Proto %q Host %q", req.Header.Get("X-Forwarded-Proto"), req.Header.Get("X-Forwarded-Host"))
		}
		if req.Header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id upstream")
		}
	})
	t.Run("request body and method forwarded", func(t *testing.T) {
		r := g.do(t, "POST", "/v1/assets", `{"name":"x"}`, "Content-Type: application/json")
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		req, body := up.lastRequest()
		if req.Method != "POST" || string(body) != `{"name":"x"}` {
			t.Fatalf("upstream saw %s %q", req.Method, body)
		}
	})
}

func TestTrustedProxies(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := strings.Replace(baseConfig(up.addr, ""), "[admin]", "[admin]", 1)
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.0/8\"]", 1)
	g := startGateway(t, cfg)
	g.do(t, "GET", "/v1/assets", "", "X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https")
	req, _ := up.lastRequest()
	if got := req.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q", got)
	}
	if req.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("X-Forwarded-Proto = %q", req.Header.Get("X-Forwarded-Proto"))
	}
}

func TestUpstreamNormalization(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var status int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/v1/assets/"), "%d", &status)
		switch r.URL.Query().Get("body") {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":"upstream_detail","field":"name"}`)
			return
		case "badjson":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":`)
			return
		}
		if ra := r.URL.Query().Get("retry"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if ch := r.URL.Query().Get("challenge"); ch != "" {
			w.Header().Set("WWW-Authenticate", ch)
			w.Header().Set("Proxy-Authenticate", ch)
		}
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Internal", "secret")
		w.WriteHeader(status)
		fmt.Fprint(w, "<html>Traceback at db-7.internal.corp</html>")
	})
	g := startGateway(t, baseConfig(up.addr, `
[errors.map]
418 = 503
`))
	cases := []struct {
		from   int
		query  string
		status int
		code   string
	}{
		{400, "", 400, "upstream_400"},
		{401, "", 401, "upstream_401"},
		{403, "", 403, "upstream_403"},
		{404, "", 404, "upstream_404"},
		{405, "", 405, "upstream_405"},
		{406, "", 406, "upstream_406"},
		{409, "", 409, "upstream_409"},
		{410, "", 410, "upstream_410"},
		{422, "", 422, "upstream_422"},
		{429, "", 429, "upstream_429"},
		{407, "", 401, "upstream_401"},
		{402, "", 403, "upstream_403"},
		{451, "", 403, "upstream_403"},
		{411, "", 400, "upstream_400"},
		{413, "", 400, "upstream_400"},
		{415, "", 400, "upstream_400"},
		{431, "", 400, "upstream_400"},
		{499, "", 400, "upstream_400"},
		{423, "", 409, "upstream_409"},
		{424, "", 422, "upstream_422"},
		{408, "", 503, "upstream_timeout"},
		{425, "", 503, "upstream_unavailable"},
		{500, "", 500, "upstream_500"},
		{501, "", 500, "upstream_error"},
		{502, "", 500, "upstream_error"},
		{505, "", 500, "upstream_error"},
		{599, "", 500, "upstream_error"},
		{503, "", 503, "upstream_503"},
		{504, "", 503, "upstream_timeout"},
		{418, "", 503, "upstream_unavailable"}, // [errors.map] override
		{404, "?body=json", 404, ""},           // the upstream API's own JSON error is kept
		{422, "?body=json", 422, ""},
		{404, "?body=badjson", 404, "upstream_404"}, // unparsable JSON is replaced
		{500, "?body=json", 500, "upstream_500"},    // 5xx bodies never reach the client
		{502, "?body=json", 500, "upstream_error"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d%s", tc.from, tc.query), func(t *testing.T) {
			r := g.do(t, "GET", fmt.Sprintf("/v1/assets/%d%s", tc.from, tc.query), "")
			if tc.code == "" {
				if r.StatusCode != tc.status || !strings.Contains(string(r.body), "upstream_detail") {
					t.Fatalf("status %d body %s: want the upstream's JSON kept", r.StatusCode, r.body)
				}
				return
			}
			assertProblem(t, r, tc.status, tc.code)
			if strings.Contains(string(r.body), "internal") || r.Header.Get("X-Internal") != "" {
				t.Fatalf("upstream internals leaked: %s %v", r.body, r.Header)
			}
			if tc.status == 503 && r.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if tc.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Fatalf("401 without challenge: %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("upstream Retry-After kept on 503", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/assets/503?retry=42", "")
		assertProblem(t, r, 503, "upstream_503")
		if r.Header.Get("Retry-After") != "42" {
			t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	})
	t.Run("upstream challenge kept on 401 and 407", func(t *testing.T) {
		for _, s := range []int{401, 407} {
			r := g.do(t, "GET", fmt.Sprintf("/v1/assets/%d?challenge=Basic+realm%%3D%%22up%%22", s), "")
			assertProblem(t, r, 401, "upstream_401")
			if r.Header.Get("WWW-Authenticate") != `Basic realm="up"` {
				t.Fatalf("%d: WWW-Authenticate = %q", s, r.Header.Get("WWW-Authenticate"))
			}
		}
	})
}

func TestUpstreamFailures(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/assets/slow":
			time.Sleep(3 * time.Second)
		case "/v1/assets/reset":
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		case "/v1/assets/garbage":
			c, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 2x0 Nope\r\n\r\n")
			buf.Flush()
			c.Close()
		case "/v1/assets/truncated":
			c, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			buf.Flush()
			c.Close()
		}
	})
	g := startGateway(t, baseConfig(up.addr, fmt.Sprintf(`
[[upstreams]]
name = "dead"
targets = ["http://%s"]
connect_timeout = "200ms"

[[routes]]
path = "/v1/dead"
methods = ["GET", "POST"]
upstream = "dead"
`, deadAddr(t))))
	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/assets/slow", 503, "upstream_timeout"},
		{"/v1/assets/reset", 500, "upstream_bad_response"},
		{"/v1/assets/garbage", 500, "upstream_bad_response"},
		{"/v1/assets/truncated", 500, "upstream_bad_response"},
		{"/v1/dead", 503, "upstream_unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := g.do(t, "GET", tc.path, "")
			assertProblem(t, r, tc.status, tc.code)
			if tc.status == 503 {
				if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
					t.Fatalf("Retry-After = %q", ra)
				}
			}
		})
	}
}

func TestGlobalMaintenance(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := strings.Replace(baseConfig(up.addr, ""), `listen = "127.0.0.1:0"`, "listen = \"127.0.0.1:0\"\nmaintenance = true\nmaintenance_retry_after = \"30s\"", 1)
	g := startGateway(t, cfg)
	r := g.do(t, "GET", "/v1/assets", "")
	assertProblem(t, r, 503, "maintenance")
	if r.Header.Get("Retry-After") != "30" || up.count.Load() != 0 {
		t.Fatalf("Retry-After %q upstream hits %d", r.Header.Get("Retry-After"), up.count.Load())
	}
}

func TestTypeBase(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, "[errors]\ntype_base = \"https://docs.example.com/errors/\"\n"))
	m := assertProblem(t, g.do(t, "GET", "/nope", ""), 404, "route_not_found")
	if m["type"] != "https://docs.example.com/errors/route_not_found" {
		t.Fatalf("type = %v", m["type"])
	}
	g2 := startGateway(t, baseConfig(up.addr, ""))
	if m := assertProblem(t, g2.do(t, "GET", "/nope", ""), 404, "route_not_found"); m["type"] != nil {
		t.Fatalf("type without type_base = %v", m["type"])
	}
}
