package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/metrics"
)

const sample = `
[server]
listen = "127.0.0.1:0"
max_concurrent = 10
[store]
redis_password = "${ADMIN_TEST_REDIS_PASSWORD}"
[auth]
realm = "test"
[[auth.tokens]]
id = "reader"
sha256 = "e18b5e53f72af866db11e3ad05e4054cb109d0a55191674df0cb1c438d88d315"
scopes = ["assets:read"]
orgs = ["org-secret-7f3a"]
[errors.map]
502 = 503
[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]
[[routes]]
path = "/v1/assets"
methods = ["GET"]
upstream = "api"
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Setenv("ADMIN_TEST_REDIS_PASSWORD", "hunter2-from-env")
	cfg := parse(t, sample)
	s := New(Options{Config: func() *config.Config { return cfg }, Ready: func() error { return nil }})
	resp, body := get(t, s.Handler(), "GET", "/config")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/toml" {
		t.Fatalf("%d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, secret := range []string{"hunter2-from-env", "e18b5e53f72af866db11e3ad05e4054cb109d0a55191674df0cb1c438d88d315", "e18b5e53", "org-secret-7f3a"} {
		if strings.Contains(body, secret) {
			t.Errorf("/config shows %q:\n%s", secret, body)
		}
	}
	for _, want := range []string{"redis_password = '<redacted>'", "sha256 = '<redacted>'", "orgs = ['<redacted>']", "id = 'reader'", "max_concurrent = 10", "path = '/v1/assets'"} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %q:\n%s", want, body)
		}
	}
	if cfg.Store.RedisPassword != "hunter2-from-env" || cfg.Auth.Tokens[0].SHA256[:8] != "e18b5e53" {
		t.Fatal("redaction modified the running config")
	}
}

// TestConfigOutputIsALoadableConfig: with nothing to redact, /config is a
// config file that loads to the same settings, so an operator can diff it
// against the file or start a gateway from it.
func TestConfigOutputIsALoadableConfig(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "")
	text := strings.Replace(sample, "redis_password = \"${ADMIN_TEST_REDIS_PASSWORD}\"", "", 1)
	text = text[:strings.Index(text, "[[auth.tokens]]")] + text[strings.Index(text, "[errors.map]"):]
	cfg := parse(t, text)
	out, err := RedactedTOML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again := parse(t, string(out))
	a, _ := RedactedTOML(again)
	if strings.SplitN(string(a), "\n\n", 2)[1] != strings.SplitN(string(out), "\n\n", 2)[1] {
		t.Fatalf("reloaded config differs:\n%s\n---\n%s", out, a)
	}
}

func TestProbes(t *testing.T) {
	var notReady error
	s := New(Options{Config: func() *config.Config { return nil }, Ready: func() error { return notReady }})
	cases := []struct {
		name, method, path string
		ready              error
		status             int
		body               string
	}{
		{"healthz answers while the process runs", "GET", "/healthz", nil, 200, "ok\n"},
		{"healthz stays 200 during a drain", "GET", "/healthz", errors.New("draining"), 200, "ok\n"},
		{"readyz 200 when ready", "GET", "/readyz", nil, 200, "ready\n"},
		{"readyz 503 with the reason", "GET", "/readyz", errors.New("draining"), 503, "not ready: draining\n"},
		{"HEAD is allowed", "HEAD", "/readyz", nil, 200, "ready\n"}, // the server drops the body
		{"other methods are 405", "POST", "/healthz", nil, 405, "method not allowed\n"},
		{"unknown paths are 404", "GET", "/healthz/x", nil, 404, "404 page not found\n"},
		{"metrics off is 404", "GET", "/metrics", nil, 404, "404 page not found\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			notReady = tc.ready
			resp, body := get(t, s.Handler(), tc.method, tc.path)
			if resp.StatusCode != tc.status || body != tc.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("no Cache-Control: no-store")
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Fatalf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	m := metrics.New(time.Now())
	m.ObserveRequest("/v1/assets", []byte("GET"), 200, "", time.Millisecond, 0, "")
	s := New(Options{Config: func() *config.Config { return nil }, Ready: func() error { return nil }, Metrics: m})
	resp, body := get(t, s.Handler(), "GET", "/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `cobaltgw_requests_total{code="",method="GET",route="/v1/assets",status="200"} 1`) {
		t.Fatalf("body:\n%s", body)
	}
	for _, want := range []string{"cobaltgw_build_info{goversion=\"go", "process_cpu_seconds_total", "go_goroutines", "go_gc_duration_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("%s missing", want)
		}
	}
	if strings.Contains(body, "(overflow)") {
		t.Error("a zero overflow series is exposed")
	}
	// OpenMetrics and gzip are negotiated.
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Type %q Content-Encoding %q", ct, w.Header().Get("Content-Encoding"))
	}
}
