package proxy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltgw/cobaltgw/config"
)

const minimalConfig = `
[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]

[[routes]]
path = "/v1/assets"
methods = ["GET"]
upstream = "api"
`

// compileDoc runs config.Decode and the compile step on doc, as
// `cobaltgw validate` does.
func compileDoc(t *testing.T, doc, path string) (*Compiled, error) {
	t.Helper()
	cfg, err := config.Decode([]byte(doc), path)
	if err != nil {
		return nil, err
	}
	c, err := Compile(cfg)
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

// Each part's build errors are placed in the file at the key they name.
func TestCompileErrorsHavePositions(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"bad policy key", "[rate_limits.a]\nkey = \"cookie\"\nrate = 1\nburst = 1\n", `c.toml:2:1: rate_limits.a.key: rate limit key "cookie": write one of ip, token`},
		{"burst 0", "[rate_limits.a]\nkey = \"ip\"\nrate = 1\nburst = 0\n", `c.toml:4:1: rate_limits.a.burst: rate limit "a": burst = 0`},
		{"duplicate route", minimalConfig + "[[routes]]\npath = \"/v1/assets\"\nmethods = [\"GET\"]\nupstream = \"api\"\n", `c.toml:11:1: routes[1].path: "/v1/assets" is already the path of routes[0]`},
		{"unbalanced template", "[[routes]]\npath = \"/a/{id\"\nmethods = [\"GET\"]\ngone = true\n", `c.toml:2:1: routes[0].path: "/a/{id" has unbalanced braces`},
		{"empty template name", "[[routes]]\npath = \"/a/{}\"\nmethods = [\"GET\"]\ngone = true\n", `c.toml:2:1: routes[0].path: "/a/{}" has an empty parameter name`},
		{"duplicate template name", "[[routes]]\npath = \"/a/{id}/b/{id}\"\nmethods = [\"GET\"]\ngone = true\n", `routes[0].path: "/a/{id}/b/{id}" names the parameter {id} twice`},
		{"same template shape", "[[routes]]\npath = \"/a/{id}\"\nmethods = [\"GET\"]\ngone = true\n[[routes]]\npath = \"/a/{key}\"\nmethods = [\"GET\"]\ngone = true\n", `routes[1].path: "/a/{key}" matches the same requests as "/a/{id}" (routes[0])`},
		{"bad digest", "[[auth.tokens]]\nid = \"a\"\nsha256 = \"xyz\"\n", `c.toml:3:1: auth.tokens[0].sha256:`},
		{"bad scope", "[[routes]]\npath = \"/a\"\nmethods = [\"GET\"]\ngone = true\nauth = true\nscopes = [\"a b\"]\n", `c.toml:6:1: routes[0].scopes: "a b" is not a scope`},
		{"status outside the contract", "[errors.map]\n502 = 502\n", `c.toml:2:1: errors.map.502: 502 is outside the contract`},
		{"unknown reason code", "[errors.details]\nupstream_timout = \"slow\"\n", `c.toml:2:1: errors.details.upstream_timout: "upstream_timout" is not a reason code; did you mean "upstream_timeout"?`},
		{"tracing endpoint", "[tracing]\nendpoint = \"ftp://x\"\n", `c.toml:2:1: tracing.endpoint: "ftp://x" is not an http:// or https:// URL`},
		{"missing schema file", minimalConfig + "body_schema = \"nope.json\"\n", `c.toml:10:1: routes[0].body_schema:`},
		{"missing TLS file", "[server]\ntls_cert = \"nope.pem\"\ntls_key = \"nope.key\"\n", `c.toml:2:1: server.tls_cert: loading`},
		{"max_conns", "[server]\nmax_conns = 0\n", `c.toml:2:1: server.max_conns: 0: must be at least 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileDoc(t, tc.doc, "c.toml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			var l *config.ErrorList
			if !errors.As(err, &l) || len(l.Errs) != 1 {
				t.Fatalf("error %T is not one *config.ErrorList entry: %v", err, err)
			}
		})
	}
}

// config's errors and the parts' come in one list, in file order; an
// entry config refused is not built again (no second error for it).
func TestCompileReportsEveryErrorInFileOrder(t *testing.T) {
	doc := `[server]
read_timeout = 10

[rate_limits.a]
key = "ip"
rate = 1
burst = 0

[rate_limits.b]
key = "ip"
burst = 1

[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]

[[routes]]
path = "/v1/assets"
methods = ["GET"]
upstream = "api"
body_schema = "missing.json"
`
	_, err := compileDoc(t, doc, "c.toml")
	var l *config.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%T %v", err, err)
	}
	want := []string{
		"c.toml:2:16: server.read_timeout:",
		"c.toml:7:1: rate_limits.a.burst:",
		"c.toml:9:2: rate_limits.b: rate is required",
		"c.toml:21:1: routes[0].body_schema:",
	}
	if len(l.Errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l.Errs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(l.Errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, l.Errs[i], w)
		}
	}
}

func TestCompileSchemaPathRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.json"), []byte(`{"type":"object"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := compileDoc(t, minimalConfig+"body_schema = \"s.json\"\n", filepath.Join(dir, "c.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if rs := c.Routes(); len(rs) != 1 || !rs[0].Body {
		t.Fatalf("schema not compiled: %+v", rs)
	}
}

func TestCompileJWTErrors(t *testing.T) {
	_, err := compileDoc(t, minimalConfig+`
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_url = "https://idp.example.com/jwks"
algorithms = ["RS256", "none"]

[[auth.jwt]]
issuer = "https://other.example.com/"
jwks_url = "https://other.example.com/jwks"
algorithms = ["HS256"]
`, "c.toml")
	if err == nil {
		t.Fatal("none and HS256 were accepted")
	}
	for _, want := range []string{"c.toml:14:1: auth.jwt[0].algorithms:", `"none" is refused`, "c.toml:19:1: auth.jwt[1].algorithms:", "HMAC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
