package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openAPIConfig imports the 3.0 document under /api and the 3.1 document
// under /v31, with two tokens: a reader (no write scope) and a writer.
func openAPIConfig(t *testing.T, up, extra string) string {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return baseConfig(up, fmt.Sprintf(`
[[auth.tokens]]
id = "reader"
sha256 = "%s"
scopes = ["assets:read"]

[[auth.tokens]]
id = "writer"
sha256 = "%s"
scopes = ["assets:read", "assets:write"]

[[routes]]
path = "/api/replaced"
methods = ["GET"]
upstream = "api"
produces = ["application/json"]

[[openapi]]
file = %q
upstream = "api"
path_prefix = "/api"

[[openapi]]
file = %q
upstream = "api"
path_prefix = "/v31"
%s`, digest("reader-token"), digest("writer-token"), abs("testdata/openapi/assets-3.0.yaml"), abs("testdata/openapi/assets-3.1.json"), extra))
}

// TestOpenAPIRoutes: every row of the OpenAPI→route table of
// docs/configuration.md, through the real binary, for a 3.0 (YAML, with a
// relative-file $ref) and a 3.1 (JSON) document.
func TestOpenAPIRoutes(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, openAPIConfig(t, up.addr, ""))
	const tenant = "X-Tenant: acme"
	const writer = "Authorization: Bearer writer-token"
	const reader = "Authorization: Bearer reader-token"
	const jsonCT = "Content-Type: application/json"
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
		pointers                 []string
	}{
		// 3.0: methods, parameters, body, produces, security, deprecation.
		{"3.0 declared GET passes", "GET", "/api/assets?limit=5&tags=red&tags=blue", "", []string{tenant}, 200, "", nil},
		{"3.0 undeclared method is 405", "PATCH", "/api/assets", "", nil, 405, "method_not_allowed", nil},
		{"3.0 missing required header is 422", "GET", "/api/assets", "", nil, 422, "schema_violation", []string{"/header/X-Tenant"}},
		{"3.0 query parameters checked against their schemas", "GET", "/api/assets?limit=500&tags=green", "", []string{tenant}, 422, "schema_violation", []string{"/query/limit", "/query/tags/0"}},
		{"3.0 non-integer query is 422", "GET", "/api/assets?limit=ten", "", []string{tenant}, 422, "schema_violation", []string{"/query/limit"}},
		{"3.0 header against its pattern", "GET", "/api/assets", "", []string{"X-Tenant: ACME1"}, 422, "schema_violation", []string{"/header/X-Tenant"}},
		{"3.0 path parameter against its schema", "GET", "/api/assets/0", "", nil, 422, "schema_violation", []string{"/path/id"}},
		{"3.0 path parameter not an integer", "GET", "/api/assets/abc", "", nil, 422, "schema_violation", []string{"/path/id"}},
		{"3.0 valid path parameter", "GET", "/api/assets/7", "", nil, 200, "", nil},
		{"3.0 Accept outside the 2xx media types is 406", "GET", "/api/assets", "", []string{tenant, "Accept: application/xml"}, 406, "not_acceptable", nil},
		{"3.0 second 2xx media type is acceptable", "GET", "/api/assets", "", []string{tenant, "Accept: text/csv"}, 200, "", nil},
		{"3.0 security without a token is 401", "POST", "/api/assets", `{"name":"a"}`, []string{jsonCT}, 401, "", nil},
		{"3.0 OAuth2 scope missing is 403", "POST", "/api/assets", `{"name":"a"}`, []string{jsonCT, reader}, 403, "insufficient_scope", nil},
		{"3.0 malformed JSON is 400", "POST", "/api/assets", `{"name":`, []string{jsonCT, writer}, 400, "malformed_json", nil},
		{"3.0 body violations are 422 with pointers (nullable, exclusiveMinimum, relative $ref)", "POST", "/api/assets", `{"name":"a","note":null,"size":0,"owner":{"email":"x","team":"ops"}}`, []string{jsonCT, writer}, 422, "schema_violation", []string{"/owner/email", "/owner/team", "/size"}},
		{"3.0 missing required body is 422", "POST", "/api/assets", "", []string{writer}, 422, "schema_violation", []string{""}},
		{"3.0 valid body passes", "POST", "/api/assets", `{"name":"a","note":null,"size":1,"owner":{"email":"a@b","team":"core"}}`, []string{jsonCT, writer}, 200, "", nil},
		{"3.0 bearer scheme without scopes needs any token", "DELETE", "/api/assets/7", "", []string{reader}, 200, "", nil},
		{"3.0 bearer scheme without a token is 401", "DELETE", "/api/assets/7", "", nil, 401, "", nil},
		{"3.0 operation past x-sunset is 410", "GET", "/api/retired", "", nil, 410, "endpoint_gone", nil},
		// 3.1: document-level security, operation override, type unions.
		{"3.1 document security applies", "PUT", "/v31/items/3", `{"name":"a"}`, []string{jsonCT}, 401, "", nil},
		{"3.1 type union and numeric exclusiveMinimum", "PUT", "/v31/items/3", `{"name":"a","note":5,"size":0}`, []string{jsonCT, reader}, 422, "schema_violation", []string{"/note", "/size"}},
		{"3.1 relative $ref from JSON", "PUT", "/v31/items/3", `{"name":"a","owner":{}}`, []string{jsonCT, reader}, 422, "schema_violation", []string{"/owner"}},
		{"3.1 valid body passes", "PUT", "/v31/items/3", `{"name":"a","note":null,"size":0.5}`, []string{jsonCT, reader}, 200, "", nil},
		{"3.1 path parameter exclusiveMinimum", "PUT", "/v31/items/0", `{"name":"a"}`, []string{jsonCT, reader}, 422, "schema_violation", []string{"/path/id"}},
		{"3.1 security: [] opens an operation; required boolean query", "GET", "/v31/items/3?verbose=maybe", "", []string{"Accept: application/xml"}, 422, "schema_violation", []string{"/query/verbose"}},
		{"3.1 missing required query", "GET", "/v31/items/3", "", []string{"Accept: application/xml"}, 422, "schema_violation", []string{"/query/verbose"}},
		{"3.1 produces from the document: JSON is not acceptable", "GET", "/v31/items/3?verbose=true", "", []string{"Accept: application/json"}, 406, "not_acceptable", nil},
		{"3.1 undeclared method is 405", "DELETE", "/v31/items/3", "", nil, 405, "method_not_allowed", nil},
		// A [[routes]] entry with the same path replaces the imported one.
		{"hand-written route replaces the imported one", "GET", "/api/replaced", "", []string{"Accept: application/json"}, 200, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count.Load()
			r := g.do(t, tc.method, tc.path, tc.body, tc.headers...)
			if tc.status == 200 {
				if r.StatusCode != 200 || up.count.Load() != before+1 {
					t.Fatalf("status %d (upstream saw %d)\n%s", r.StatusCode, up.count.Load()-before, r.body)
				}
				return
			}
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", r.StatusCode, tc.status, r.body)
			}
			if tc.code != "" {
				assertProblem(t, r, tc.status, tc.code)
			}
			if up.count.Load() != before {
				t.Fatal("a refused request reached the upstream")
			}
			if tc.pointers != nil {
				var got []string
				for _, e := range r.json(t)["errors"].([]any) {
					got = append(got, e.(map[string]any)["pointer"].(string))
				}
				if strings.Join(got, " ") != strings.Join(tc.pointers, " ") {
					t.Fatalf("pointers %q, want %q\n%s", got, tc.pointers, r.body)
				}
			}
		})
	}

	t.Run("405 Allow lists the document's operations", func(t *testing.T) {
		r := g.do(t, "PATCH", "/api/assets/1", "")
		if got := r.Header.Get("Allow"); got != "GET, DELETE, HEAD, OPTIONS" {
			t.Fatalf("Allow = %q", got)
		}
	})
	t.Run("deprecated operation carries Deprecation and Sunset", func(t *testing.T) {
		r := g.do(t, "GET", "/api/legacy/x", "")
		if r.StatusCode != 200 || r.Header.Get("Deprecation") != "@1735689600" || r.Header.Get("Sunset") != "Thu, 01 Jan 2099 00:00:00 GMT" {
			t.Fatalf("%d Deprecation=%q Sunset=%q", r.StatusCode, r.Header.Get("Deprecation"), r.Header.Get("Sunset"))
		}
		if r := g.do(t, "GET", "/api/assets/1", ""); r.Header.Get("Deprecation") != "" {
			t.Fatal("a non-deprecated operation carries Deprecation")
		}
	})
}

// TestOpenAPIBrokenRef: validate names the document, line, column and
// pointer of a $ref that does not resolve.
func TestOpenAPIBrokenRef(t *testing.T) {
	doc, err := filepath.Abs("testdata/openapi/broken-ref.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, baseConfig("127.0.0.1:9", fmt.Sprintf("\n[[openapi]]\nfile = %q\nupstream = \"api\"\n", doc)))
	out, code := runCLI(t, "", "validate", "-config", path)
	want := doc + `:10:21: openapi[0].file: $ref "shared/common.yaml#/Nobody" does not resolve: nothing at #/Nobody in`
	if code == 0 || !strings.Contains(out, want) || !strings.Contains(out, "(at #/paths/~1assets/post/requestBody/content/application~1json/schema)") {
		t.Fatalf("exit %d:\n%s\nwant %s", code, out, want)
	}
}

// TestOpenAPIRoutesCommand: `cobaltgw routes` prints the table after import.
func TestOpenAPIRoutesCommand(t *testing.T) {
	path := writeConfig(t, openAPIConfig(t, "127.0.0.1:9", ""))
	out, code := runCLI(t, "", "routes", "-config", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"PATH", "METHODS", "UPSTREAM", "AUTH", "LIMITS", "VALIDATION", "PRODUCES", "DEPRECATION",
		"/api/assets ", "token assets:write", "body(required),parameters", "application/json,text/csv",
		"since 2025-01-01T00:00:00Z sunset 2099-01-01T00:00:00Z", "/v31/items/{id}", "/api/replaced",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// fileWriter returns a function that replaces the file at path.
func fileWriter(t *testing.T, path string) func(body string) {
	return func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenAPIReload: a changed document is picked up by SIGHUP like any
// config; a document that breaks keeps the old routes serving.
func TestOpenAPIReload(t *testing.T) {
	up := newUpstream(t, echo)
	dir := t.TempDir()
	doc := filepath.Join(dir, "api.yaml")
	write := fileWriter(t, doc)
	write("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /one:\n    get:\n      responses: {'200': {description: ok}}\n")
	path := writeConfig(t, baseConfig(up.addr, fmt.Sprintf("\n[[openapi]]\nfile = %q\nupstream = \"api\"\n", doc)))
	g := startGatewayFile(t, path)
	if r := g.do(t, "GET", "/one", ""); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	write("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /one:\n    post:\n      responses: {'200': {description: ok}}\n  /two/{id}:\n    get:\n      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]\n      responses: {'200': {description: ok}}\n")
	g.signal(syscall.SIGHUP)
	eventually(t, "the new route", func() bool { return g.do(t, "GET", "/two/5", "").StatusCode == 200 })
	assertProblem(t, g.do(t, "GET", "/one", ""), 405, "method_not_allowed")
	write("openapi: 3.0.3\npaths: [\n")
	g.signal(syscall.SIGHUP)
	eventually(t, "the refusal", func() bool { return strings.Contains(g.out.String(), "reload refused") })
	if r := g.do(t, "GET", "/two/5", ""); r.StatusCode != 200 {
		t.Fatalf("after a refused reload: %d", r.StatusCode)
	}
}

// TestOpenAPIAuthModes: auth = true makes every imported operation need a
// token, auth = false none; a wrong value is refused at its place.
func TestOpenAPIAuthModes(t *testing.T) {
	doc, err := filepath.Abs("testdata/openapi/assets-3.0.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ value, want string }{
		{"true", `/api/assets/\{id\}\s+GET\s+api\s+token\s`},
		{"false", `/api/assets\s+POST\s+api\s+-\s`},
		{`"from_spec"`, `/api/assets\s+POST\s+api\s+token assets:write\s`},
	} {
		path := writeConfig(t, baseConfig("127.0.0.1:9", fmt.Sprintf("\n[[openapi]]\nfile = %q\nupstream = \"api\"\npath_prefix = \"/api\"\nauth = %s\n", doc, tc.value)))
		out, code := runCLI(t, "", "routes", "-config", path)
		if code != 0 || !regexp.MustCompile(tc.want).MatchString(out) {
			t.Errorf("auth = %s: exit %d, want %q in:\n%s", tc.value, code, tc.want, out)
		}
	}
	path := writeConfig(t, baseConfig("127.0.0.1:9", fmt.Sprintf("\n[[openapi]]\nfile = %q\nupstream = \"api\"\nauth = \"maybe\"\n", doc)))
	out, code := runCLI(t, "", "validate", "-config", path)
	if code == 0 || !strings.Contains(out, `openapi[0].auth: write "from_spec"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestOpenAPIExample: the shipped example validates and imports its
// document (README.md, "OpenAPI import").
func TestOpenAPIExample(t *testing.T) {
	out, code := runCLI(t, "", "routes", "-config", "../examples/openapi/config.toml")
	if code != 0 || !strings.Contains(out, "/v1/assets/{id}") || !strings.Contains(out, "token assets:write") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestOpenAPIWatch: with watch = true, a change of the document (or of a
// file its $refs name) reloads like a change of the config.
func TestOpenAPIWatch(t *testing.T) {
	up := newUpstream(t, echo)
	dir := t.TempDir()
	doc := filepath.Join(dir, "api.yaml")
	write := fileWriter(t, doc)
	write("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /one:\n    get:\n      responses: {'200': {description: ok}}\n")
	cfg := strings.Replace(baseConfig(up.addr, fmt.Sprintf("\n[[openapi]]\nfile = %q\nupstream = \"api\"\n", doc)), "[server]\n", "[server]\nwatch = true\n", 1)
	g := startGatewayFile(t, writeConfig(t, cfg))
	assertProblem(t, g.do(t, "GET", "/two", ""), 404, "route_not_found")
	time.Sleep(1500 * time.Millisecond) // the watch records the files on its first poll
	write("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /two:\n    get:\n      responses: {'200': {description: ok}}\n")
	eventually(t, "the new route", func() bool { return g.do(t, "GET", "/two", "").StatusCode == 200 })
}
