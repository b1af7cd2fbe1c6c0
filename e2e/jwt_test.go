package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/jwttest"
)

const (
	jwtIssuer    = "https://idp.test/realms/main"
	jwtOrgIssuer = "https://idp.test/realms/orgs" // same keys, org_claim = "orgs", no audiences
)

// jwtConfig trusts one issuer whose JWK Set is at jwksURL (HTTPS, trusted
// through SSL_CERT_FILE) beside one static token, with the admin listener
// on for /readyz.
func jwtConfig(up, jwksURL, refresh string) string {
	return opsConfig(up, "", fmt.Sprintf(`
[auth]
realm = "cobalt api"

[[auth.tokens]]
id = "static-reader"
sha256 = "%s"
scopes = ["assets:read"]

[[auth.jwt]]
issuer = %q
jwks_url = %q
audiences = ["api"]
leeway = "5s"
jwks_refresh = %q

[[auth.jwt]]
issuer = %q
jwks_url = %q
org_claim = "orgs"

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
scopes = ["assets:read", "admin"]
`, digest("static-secret"), jwtIssuer, jwksURL, refresh, jwtOrgIssuer, jwksURL))
}

// startJWTGateway starts the gateway in front of an echo upstream,
// trusting the IdP's self-signed certificate through SSL_CERT_FILE (the
// gateway verifies jwks_url against the system roots; docs/jwt.md).
func startJWTGateway(t *testing.T, idp *jwttest.IdP, refresh string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, echo)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(jwtConfig(up.addr, idp.URL(), refresh)), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGatewayFile(t, path, "SSL_CERT_FILE="+idp.CAFile(t, dir)), up
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

// assertJWT401 checks a 401 invalid_token whose challenge names the failed
// check and nothing of the token.
func assertJWT401(t *testing.T, r *response, tok, desc string) {
	t.Helper()
	assertProblem(t, r, 401, "invalid_token")
	want := `Bearer realm="cobalt api", error="invalid_token", error_description="` + desc + `"`
	if got := r.Header.Get("WWW-Authenticate"); got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
	for _, part := range strings.Split(tok, ".") {
		if len(part) > 8 && (strings.Contains(string(r.body), part) || strings.Contains(r.Header.Get("WWW-Authenticate"), part)) {
			t.Fatalf("the response quotes the token: %s", r.body)
		}
	}
}

func TestJWTAccessTokens(t *testing.T) {
	rs := jwttest.NewKey(t, "RS256", "rsa-1")
	es := jwttest.NewKey(t, "ES256", "ec-1")
	ed := jwttest.NewKey(t, "EdDSA", "ed-1")
	idp := jwttest.NewIdP(t, true, rs, es, ed)
	// Refreshed every second, so the outage below spans failed refreshes.
	g, up := startJWTGateway(t, idp, "1s")

	claims := func(mod func(c map[string]any)) map[string]any {
		c := jwttest.Claims(jwtIssuer, "client-42", "api", "assets:read profile")
		if mod != nil {
			mod(c)
		}
		return c
	}
	for _, k := range []*jwttest.Key{rs, es, ed} {
		t.Run("valid "+k.Alg+" token passes", func(t *testing.T) {
			r := g.do(t, "GET", "/v1/private/x", "", bearer(k.Sign(t, claims(nil))))
			if r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.body)
			}
			req, _ := up.lastRequest()
			if got := req.Header.Get("X-Consumer-Id"); got != "client-42" {
				t.Fatalf("X-Consumer-Id = %q, want the subject", got)
			}
		})
	}
	t.Run("a cached token passes again", func(t *testing.T) {
		tok := rs.Sign(t, claims(nil))
		for range 3 {
			if r := g.do(t, "GET", "/v1/private/x", "", bearer(tok)); r.StatusCode != 200 {
				t.Fatalf("status %d: %s", r.StatusCode, r.body)
			}
		}
	})
	t.Run("static tokens keep working", func(t *testing.T) {
		if r := g.do(t, "GET", "/v1/private/x", "", bearer("static-secret")); r.StatusCode != 200 {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
	})

	refused := []struct {
		name, desc string
		tok        func(t *testing.T) string
	}{
		{"expired", "expired", func(t *testing.T) string {
			return rs.Sign(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
		}},
		{"not yet valid", "not yet valid", func(t *testing.T) string {
			return rs.Sign(t, claims(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Minute).Unix() }))
		}},
		{"issued in the future", "not yet valid", func(t *testing.T) string {
			return es.Sign(t, claims(func(c map[string]any) { c["iat"] = time.Now().Add(time.Minute).Unix() }))
		}},
		{"wrong audience", "wrong audience", func(t *testing.T) string {
			return ed.Sign(t, claims(func(c map[string]any) { c["aud"] = []string{"other-api"} }))
		}},
		{"unknown issuer", "unknown issuer", func(t *testing.T) string {
			return rs.Sign(t, claims(func(c map[string]any) { c["iss"] = "https://evil.test/" }))
		}},
		{"unknown kid", "unknown key", func(t *testing.T) string {
			return jwttest.NewKey(t, "ES256", "never-published").Sign(t, claims(nil))
		}},
		{"tampered signature", "bad signature", func(t *testing.T) string { return jwttest.Tamper(rs.Sign(t, claims(nil))) }},
		{"key of another issuer under a known kid", "bad signature", func(t *testing.T) string {
			return jwttest.NewKey(t, "ES256", "ec-1").Sign(t, claims(nil))
		}},
		{"alg none", "algorithm not allowed", func(t *testing.T) string { return jwttest.Unsigned("rsa-1", claims(nil)) }},
		{"HS256 signed with the public key", "algorithm not allowed", func(t *testing.T) string { return rs.HS256WithPublicKey(t, claims(nil)) }},
		{"no exp", "malformed", func(t *testing.T) string {
			return rs.Sign(t, claims(func(c map[string]any) { delete(c, "exp") }))
		}},
		{"garbage in JWS shape", "malformed", func(t *testing.T) string { return "abc.def.ghi" }},
	}
	for _, tc := range refused {
		t.Run(tc.name+" is 401 "+tc.desc, func(t *testing.T) {
			tok := tc.tok(t)
			before := up.count.Load()
			assertJWT401(t, g.do(t, "GET", "/v1/private/x", "", bearer(tok)), tok, tc.desc)
			if up.count.Load() != before {
				t.Fatal("a refused token reached the upstream")
			}
		})
	}

	t.Run("missing scope is 403 insufficient_scope", func(t *testing.T) {
		r := g.do(t, "GET", "/v1/admin", "", bearer(rs.Sign(t, claims(nil))))
		assertProblem(t, r, 403, "insufficient_scope")
		if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="admin"`) {
			t.Fatalf("WWW-Authenticate = %q", got)
		}
	})
	t.Run("scopes from an scp array", func(t *testing.T) {
		tok := ed.Sign(t, claims(func(c map[string]any) { delete(c, "scope"); c["scp"] = []string{"assets:read", "admin"} }))
		if r := g.do(t, "GET", "/v1/admin", "", bearer(tok)); r.StatusCode != 200 {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
	})
	t.Run("org_claim gives the allowed X-Org-Token values", func(t *testing.T) {
		tok := es.Sign(t, claims(func(c map[string]any) { c["iss"] = jwtOrgIssuer; c["orgs"] = []string{"org-1", "org-2"} }))
		if r := g.do(t, "GET", "/v1/private/x", "", bearer(tok), "X-Org-Token: org-2"); r.StatusCode != 200 {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		assertProblem(t, g.do(t, "GET", "/v1/private/x", "", bearer(tok), "X-Org-Token: org-3"), 403, "forbidden")
		// With org_claim set, a token without the claim acts for no org.
		tok = es.Sign(t, claims(func(c map[string]any) { c["iss"] = jwtOrgIssuer }))
		assertProblem(t, g.do(t, "GET", "/v1/private/x", "", bearer(tok), "X-Org-Token: org-1"), 403, "forbidden")
	})

	t.Run("IdP down later changes nothing", func(t *testing.T) {
		idp.SetDown(true)
		defer idp.SetDown(false)
		fetches := idp.Fetches.Load()
		for idp.Fetches.Load() < fetches+2 { // two failed refreshes
			time.Sleep(100 * time.Millisecond)
		}
		tok := es.Sign(t, claims(func(c map[string]any) { c["sub"] = "after-outage" }))
		if r := g.do(t, "GET", "/v1/private/x", "", bearer(tok)); r.StatusCode != 200 {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		// An unknown kid now triggers a refetch that fails: still 401.
		u := jwttest.NewKey(t, "EdDSA", "ed-unknown")
		tok = u.Sign(t, claims(nil))
		assertJWT401(t, g.do(t, "GET", "/v1/private/x", "", bearer(tok)), tok, "unknown key")
		if resp, body := g.admin(t, "/readyz"); resp.StatusCode != 200 {
			t.Fatalf("/readyz = %d %q", resp.StatusCode, body)
		}
	})

	t.Run("tokens are never logged", func(t *testing.T) {
		tok := rs.Sign(t, claims(func(c map[string]any) { c["sub"] = "log-check" }))
		g.do(t, "GET", "/v1/private/x", "", bearer(tok))
		g.do(t, "GET", "/v1/private/x", "", bearer(jwttest.Tamper(tok)))
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(g.out.String(), sig) {
			t.Fatal("the log holds a token")
		}
	})
}

// A new kid at the issuer is fetched when the first token naming it
// arrives (a refetch at most every 10s), without a reload; tokens of the
// retired key that were verified before stay valid until their exp.
func TestJWTKeyRotation(t *testing.T) {
	old := jwttest.NewKey(t, "RS256", "rsa-1")
	idp := jwttest.NewIdP(t, true, old)
	g, _ := startJWTGateway(t, idp, "5m")
	claims := jwttest.Claims(jwtIssuer, "client-7", "api", "assets:read")
	oldTok := old.Sign(t, claims)
	if r := g.do(t, "GET", "/v1/private/x", "", bearer(oldTok)); r.StatusCode != 200 {
		t.Fatalf("status %d: %s", r.StatusCode, r.body)
	}
	fetches := idp.Fetches.Load()

	next := jwttest.NewKey(t, "EdDSA", "ed-2")
	idp.SetKeys(t, next)
	if r := g.do(t, "GET", "/v1/private/x", "", bearer(next.Sign(t, claims))); r.StatusCode != 200 {
		t.Fatalf("status %d after rotation: %s", r.StatusCode, r.body)
	}
	if n := idp.Fetches.Load() - fetches; n != 1 {
		t.Fatalf("%d fetches for the new kid, want 1", n)
	}
	// A burst of unknown kids costs no more fetches within 10s.
	for i := range 5 {
		tok := jwttest.NewKey(t, "ES256", fmt.Sprintf("bogus-%d", i)).Sign(t, claims)
		assertJWT401(t, g.do(t, "GET", "/v1/private/x", "", bearer(tok)), tok, "unknown key")
	}
	if n := idp.Fetches.Load() - fetches; n != 1 {
		t.Fatalf("%d fetches after unknown kids, want still 1", n)
	}
}

func TestJWTIssuerDownAtStart(t *testing.T) {
	k := jwttest.NewKey(t, "ES256", "ec-1")
	idp := jwttest.NewIdP(t, true, k)
	idp.SetDown(true)
	g, _ := startJWTGateway(t, idp, "5m")
	tok := k.Sign(t, jwttest.Claims(jwtIssuer, "client-1", "api", "assets:read"))

	r := g.do(t, "GET", "/v1/private/x", "", bearer(tok))
	assertProblem(t, r, 503, "auth_unavailable")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	resp, body := g.admin(t, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, jwtIssuer) {
		t.Fatalf("/readyz = %d %q, want 503 naming the issuer", resp.StatusCode, body)
	}
	// Static tokens do not depend on the IdP.
	if r := g.do(t, "GET", "/v1/private/x", "", bearer("static-secret")); r.StatusCode != 200 {
		t.Fatalf("static token: status %d", r.StatusCode)
	}

	// The IdP comes back: the retry (backoff from 1s) loads the set.
	idp.SetDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := g.do(t, "GET", "/v1/private/x", "", bearer(tok))
		if r.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d after the IdP came back: %s", r.StatusCode, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, body := g.admin(t, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("/readyz = %d %q", resp.StatusCode, body)
	}
}

// `cobaltgw validate` checks issuers, algorithms and local JWK files.
func TestValidateJWTConfig(t *testing.T) {
	dir := t.TempDir()
	k := jwttest.NewKey(t, "EdDSA", "ed-1")
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), jwttest.JWKS(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.json"), []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(jwt string) string {
		p := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(p, []byte(baseConfig("127.0.0.1:9", jwt)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, jwt string
		code      int
		want      string
	}{
		{"a local JWK Set relative to the config", `
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_file = "jwks.json"
algorithms = ["EdDSA"]`, 0, "ok"},
		{"alg none is refused", `
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_file = "jwks.json"
algorithms = ["EdDSA", "none"]`, 1, `auth.jwt[0].algorithms: "none" is refused`},
		{"HS256 is refused", `
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_url = "https://idp.example.com/jwks"
algorithms = ["HS256"]`, 1, `auth.jwt[0].algorithms: "HS256" is refused`},
		{"a JWK Set without keys", `
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_file = "empty.json"`, 1, "auth.jwt[0].jwks_file:"},
		{"plain http to another host", `
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_url = "http://idp.example.com/jwks"`, 1, "auth.jwt[0].jwks_url:"},
		{"no issuer", `
[[auth.jwt]]
jwks_url = "https://idp.example.com/jwks"`, 1, "auth.jwt[0].issuer: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runCLI(t, "", "validate", "-config", cfg(tc.jwt))
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want exit %d mentioning %q", code, out, tc.code, tc.want)
			}
		})
	}
}
