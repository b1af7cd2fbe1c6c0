package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPathTemplates: {name} matches one non-empty segment; exact beats
// template beats prefix; among templates more literal characters win
// (docs/configuration.md, "Paths").
func TestPathTemplates(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, `
[[routes]]
path = "/v1/assets/{id}"
methods = ["GET", "PATCH"]
upstream = "api"

[[routes]]
path = "/v1/assets/search"
methods = ["POST"]
upstream = "api"

[[routes]]
path = "/v1/{kind}/{id}"
methods = ["DELETE"]
upstream = "api"
`))
	cases := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"template route has its own method set", "PATCH", "/v1/assets/42", 200, ""},
		{"template 405 lists the template's methods", "PUT", "/v1/assets/42", 405, "GET, PATCH, HEAD, OPTIONS"},
		{"exact beats template", "GET", "/v1/assets/search", 405, "POST, OPTIONS"},
		{"template beats prefix", "DELETE", "/v1/assets/42", 405, "GET, PATCH, HEAD, OPTIONS"},
		{"deeper path falls back to the prefix", "DELETE", "/v1/assets/42/x", 200, ""},
		{"more literal characters win; the other template still serves", "DELETE", "/v1/users/7", 200, ""},
		{"a template needs a non-empty segment", "GET", "/v1/users/", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do(t, tc.method, tc.path, "")
			if r.StatusCode != tc.status {
				t.Fatalf("%s %s = %d, want %d\n%s", tc.method, tc.path, r.StatusCode, tc.status, r.body)
			}
			if tc.allow != "" && r.Header.Get("Allow") != tc.allow {
				t.Fatalf("Allow = %q, want %q", r.Header.Get("Allow"), tc.allow)
			}
		})
	}
}

// TestPathTemplateRefusedAtLoad: a malformed template fails validate with
// the entry's name.
func TestPathTemplateRefusedAtLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(baseConfig("127.0.0.1:9", `
[[routes]]
path = "/v1/things/{id"
methods = ["GET"]
upstream = "api"
`)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "", "validate", "-config", p)
	if code == 0 || !strings.Contains(out, `routes[2].path: "/v1/things/{id" has unbalanced braces`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
