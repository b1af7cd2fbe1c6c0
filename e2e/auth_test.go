package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func digest(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func authConfig(t *testing.T, up string) string {
	schema, err := filepath.Abs("testdata/asset.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return baseConfig(up, fmt.Sprintf(`
[auth]
realm = "cobalt api"

[[auth.tokens]]
id = "reader"
sha256 = "%s"
scopes = ["assets:read"]

[[auth.tokens]]
id = "writer"
sha256 = "%s"
scopes = ["assets:read", "assets:write"]
orgs = ["org-1"]

[[routes]]
path = "/v1/private/*"
methods = ["GET", "POST"]
upstream = "api"
auth = true
scopes = ["assets:read"]

[[routes]]
path = "/v1/admin"
methods = ["GET"]
upstream = "api"
auth = true
scopes = ["assets:read", "assets:write", "admin"]

[[routes]]
path = "/v1/write"
methods = ["POST"]
upstream = "api"
auth = true
scopes = ["assets:write"]
forward_authorization = false

[[routes]]
path = "/v1/validated"
methods = ["GET", "POST", "PUT"]
upstream = "api"
body_schema = %q

[[routes]]
path = "/v1/picky"
methods = ["GET"]
upstream = "api"
auth = true
produces = ["text/csv"]
`, digest("reader-token"), digest("writer-token"), schema))
}

func TestAuthentication(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, authConfig(t, up.addr))
	cases := []struct {
		name      string
		path      string
		headers   []string
		status    int
		code      string
		challenge string
	}{
		{"no Authorization", "/v1/private/x", nil, 401, "missing_token", `Bearer realm="cobalt api"`},
		{"unknown token", "/v1/private/x", []string{"Authorization: Bearer nope"}, 401, "invalid_token", `Bearer realm="cobalt api", error="invalid_token"`},
		{"other scheme", "/v1/private/x", []string{"Authorization: Basic cmVhZGVyOng="}, 401, "invalid_token", `Bearer realm="cobalt api", error="invalid_token"`},
		{"empty bearer", "/v1/private/x", []string{"Authorization: Bearer "}, 401, "invalid_token", `Bearer realm="cobalt api", error="invalid_token"`},
		{"two Authorization headers", "/v1/private/x", []string{"Authorization: Bearer reader-token", "Authorization: Bearer writer-token"}, 400, "malformed_request", ""},
		{"missing scope", "/v1/admin", []string{"Authorization: Bearer writer-token", "X-Org-Token: org-1"}, 403, "insufficient_scope", `Bearer realm="cobalt api", error="insufficient_scope", scope="admin"`},
		{"missing two scopes", "/v1/admin", []string{"Authorization: Bearer reader-token"}, 403, "insufficient_scope", `Bearer realm="cobalt api", error="insufficient_scope", scope="assets:write admin"`},
		{"org not allowed", "/v1/private/x", []string{"Authorization: Bearer writer-token", "X-Org-Token: org-2"}, 403, "forbidden", ""},
		{"org missing", "/v1/private/x", []string{"Authorization: Bearer writer-token"}, 403, "forbidden", ""},
		{"406 comes before 401", "/v1/picky", []string{"Accept: application/json"}, 406, "not_acceptable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			r := g.do(t, "GET", tc.path, "", tc.headers...)
			m := assertProblem(t, r, tc.status, tc.code)
			if got := r.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if up.count.Load() != before {
				t.Fatal("a refused request reached the upstream")
			}
			if d, _ := m["detail"].(string); strings.Contains(d, "writer") || strings.Contains(d, "reader") {
				t.Fatalf("detail reveals a token: %q", d)
			}
		})
	}
	t.Run("valid token passes with identity", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/private/x", "", "authorization: bearer reader-token", "X-Consumer-Id: someone-else", "x-consumer-id: admin")
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
		req, _ := up.lastRequest()
		if v := req.Header.Values("X-Consumer-Id"); len(v) != 1 || v[0] != "reader" {
			t.Fatalf("X-Consumer-Id upstream = %v", v)
		}
		if req.Header.Get("Authorization") != "bearer reader-token" {
			t.Fatalf("Authorization upstream = %q", req.Header.Get("Authorization"))
		}
	})
	t.Run("org allowed", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/private/x", "", "Authorization: Bearer writer-token", "X-Org-Token: org-1")
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
	})
	t.Run("forward_authorization = false", func(t *testing.T) {
		r := g.do(t, "POST", "/v1/write", "{}", "Authorization: Bearer writer-token", "X-Org-Token: org-1")
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
		req, _ := up.lastRequest()
		if req.Header.Get("Authorization") != "" || req.Header.Get("X-Consumer-Id") != "writer" {
			t.Fatalf("Authorization %q X-Consumer-Id %q", req.Header.Get("Authorization"), req.Header.Get("X-Consumer-Id"))
		}
	})
}

func TestBodyValidation(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, authConfig(t, up.addr))
	json := "Content-Type: application/json"
	cases := []struct {
		name, method, body string
		headers            []string
		status             int
		code               string
	}{
		{"malformed JSON", "POST", `{"name":`, []string{json}, 400, "malformed_json"},
		{"trailing garbage", "POST", `{"name":"a"} x`, []string{json}, 400, "malformed_json"},
		{"empty body with JSON type", "POST", ``, []string{json}, 400, "malformed_json"},
		{"non-JSON content type", "POST", `name=a`, []string{"Content-Type: application/x-www-form-urlencoded"}, 400, "malformed_json"},
		{"no content type", "POST", `{"name":"a"}`, nil, 400, "malformed_json"},
		{"schema violation", "POST", `{"size":-1,"extra":true}`, []string{json}, 422, "schema_violation"},
		{"wrong type", "PUT", `{"name":5}`, []string{"Content-Type: application/json; charset=utf-8"}, 422, "schema_violation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			r := g.do(t, tc.method, "/v1/validated", tc.body, tc.headers...)
			m := assertProblem(t, r, tc.status, tc.code)
			if up.count.Load() != before {
				t.Fatal("a refused body reached the upstream")
			}
			if tc.status == 422 {
				errs, _ := m["errors"].([]any)
				if len(errs) == 0 {
					t.Fatalf("422 without errors: %s", r.body)
				}
				for _, e := range errs {
					item, _ := e.(map[string]any)
					if _, ok := item["pointer"].(string); !ok || item["message"] == "" {
						t.Fatalf("bad error item %v", e)
					}
				}
			}
		})
	}
	t.Run("nested pointer", func(t *testing.T) {
		r := g.do(t, "POST", "/v1/validated", `{"name":"a","tags":["ok",7]}`, json)
		m := assertProblem(t, r, 422, "schema_violation")
		errs := m["errors"].([]any)
		if errs[0].(map[string]any)["pointer"] != "/tags/1" {
			t.Fatalf("errors = %v", errs)
		}
	})
	t.Run("valid body passes unchanged", func(t *testing.T) {
		r := g.do(t, "POST", "/v1/validated", `{"name":"a","size":3}`, json)
		if r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
		if _, body := up.lastRequest(); string(body) != `{"name":"a","size":3}` {
			t.Fatalf("upstream body %q", body)
		}
	})
	t.Run("GET without body is not validated", func(t *testing.T) {
		if r := g.do(t, "GET", "/v1/validated", ""); r.StatusCode != 200 {
			t.Fatalf("status %d %s", r.StatusCode, r.body)
		}
	})
}

func TestBadSchemaRefusedAtLoad(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"type": 5}`), 0o600)
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(baseConfig("127.0.0.1:1", `
[[routes]]
path = "/v1/x"
methods = ["POST"]
upstream = "api"
body_schema = "bad.json"
`)), 0o600)
	out, code := runCLI(t, "", "validate", "-config", cfg)
	if code == 0 || !strings.Contains(out, "bad.json") || !strings.Contains(out, "c.toml:") {
		t.Fatalf("exit %d output %s", code, out)
	}
}
