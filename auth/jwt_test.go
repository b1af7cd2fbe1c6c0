package auth

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cobaltgw/cobaltgw/internal/jwttest"
)

func issuerFor(url, file string) JWTIssuer {
	return JWTIssuer{
		Issuer: "https://idp.test/", JWKSURL: url, JWKSFile: file,
		Algorithms: []string{"RS256", "ES256", "EdDSA"}, Leeway: 30 * time.Second,
		ScopeClaim: "scope", SubjectClaim: "sub", JWKSRefresh: 5 * time.Minute,
	}
}

func TestValidateJWT(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(good, jwttest.JWKS(t, jwttest.NewKey(t, "ES256", "k1")), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		mod   func(*JWTIssuer)
		field string // "" = valid
		msg   string
	}{
		{"a local JWK Set is read", func(is *JWTIssuer) {}, "", ""},
		{"an https jwks_url is fine", func(is *JWTIssuer) { is.JWKSFile, is.JWKSURL = "", "https://idp.test/jwks" }, "", ""},
		{"plain http to loopback is fine", func(is *JWTIssuer) { is.JWKSFile, is.JWKSURL = "", "http://127.0.0.1:8081/jwks" }, "", ""},
		{"plain http elsewhere is refused", func(is *JWTIssuer) { is.JWKSFile, is.JWKSURL = "", "http://idp.test/jwks" }, "jwks_url", "https"},
		{"alg none is refused at load", func(is *JWTIssuer) { is.Algorithms = []string{"RS256", "none"} }, "algorithms", `"none" is refused`},
		{"HS256 is refused at load", func(is *JWTIssuer) { is.Algorithms = []string{"HS256"} }, "algorithms", "HMAC"},
		{"an unknown alg is refused", func(is *JWTIssuer) { is.Algorithms = []string{"RS257"} }, "algorithms", "unknown algorithm"},
		{"no algorithms", func(is *JWTIssuer) { is.Algorithms = nil }, "algorithms", "at least one"},
		{"issuer required", func(is *JWTIssuer) { is.Issuer = "" }, "issuer", "required"},
		{"one key source required", func(is *JWTIssuer) { is.JWKSFile = "" }, "jwks_url", "required"},
		{"not both key sources", func(is *JWTIssuer) { is.JWKSURL = "https://idp.test/jwks" }, "jwks_file", "not both"},
		{"missing jwks_file", func(is *JWTIssuer) { is.JWKSFile = filepath.Join(dir, "nope.json") }, "jwks_file", "no such file"},
		{"a JWK Set without a signature key", func(is *JWTIssuer) { is.JWKSFile = bad }, "jwks_file", "no usable"},
		{"negative leeway", func(is *JWTIssuer) { is.Leeway = -time.Second }, "leeway", "negative"},
		{"refresh too short", func(is *JWTIssuer) { is.JWKSRefresh = time.Millisecond }, "jwks_refresh", "at least"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := issuerFor("", good)
			tc.mod(&is)
			_, errs := ValidateJWT([]JWTIssuer{is})
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			var je *JWTError
			if len(errs) == 0 || !errors.As(errs[0], &je) {
				t.Fatalf("errors = %v, want a JWTError on %s", errs, tc.field)
			}
			if je.Field != tc.field || !strings.Contains(errs[0].Error(), tc.msg) || !strings.HasPrefix(errs[0].Error(), "auth.jwt[0]."+tc.field) {
				t.Fatalf("error = %q (field %s), want field %s mentioning %q", errs[0], je.Field, tc.field, tc.msg)
			}
		})
	}
	t.Run("duplicate issuer", func(t *testing.T) {
		_, errs := ValidateJWT([]JWTIssuer{issuerFor("", good), issuerFor("", good)})
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "auth.jwt[1].issuer") {
			t.Fatalf("errors = %v", errs)
		}
	})
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func sumOf(tok string) *[32]byte     { d := sha256.Sum256([]byte(tok)); return &d }
func verify(j *JWT, tok string) (*Identity, Failure, int) {
	return j.Verify([]byte(tok), sumOf(tok))
}

func newTestJWT(t testing.TB, is JWTIssuer, clk *clock, cache *TokenCache) *JWT {
	t.Helper()
	j, err := NewJWT([]JWTIssuer{is}, JWTOptions{Now: clk.now, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

func TestVerifyCachesUntilExpiry(t *testing.T) {
	k := jwttest.NewKey(t, "ES256", "k1")
	idp := jwttest.NewIdP(t, false, k)
	clk := newClock(time.Now())
	cache, err := NewTokenCache(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	is := issuerFor(idp.URL(), "")
	is.Issuer, is.Leeway, is.OrgClaim = "https://idp.test/", 5*time.Second, "org"
	j := newTestJWT(t, is, clk, cache)

	c := jwttest.Claims("https://idp.test/", "svc-1", "api", "a:read a:write")
	c["scp"] = []string{"extra"}
	c["org"] = "org-9"
	c["exp"] = clk.now().Add(time.Minute).Unix()
	tok := k.Sign(t, c)
	id, f, _ := verify(j, tok)
	if f != JWTOK || id.ID != "svc-1" || !id.HasScope("a:write") || !id.HasScope("extra") || len(id.Orgs) != 1 {
		t.Fatalf("Verify = %+v, %v", id, f)
	}
	cache.wait()
	if got, ok := j.Cached(sumOf(tok)); !ok || got != id {
		t.Fatal("a verified token is not cached")
	}
	// Past exp + leeway the cached entry is no longer used, and the token
	// itself is refused.
	clk.add(time.Minute + 6*time.Second)
	if _, ok := j.Cached(sumOf(tok)); ok {
		t.Fatal("an expired token is still served from the cache")
	}
	if _, f, _ := verify(j, tok); f != JWTExpired {
		t.Fatalf("Verify after exp = %v, want expired", f)
	}
}

func TestVerifyUnavailableThenLoaded(t *testing.T) {
	k := jwttest.NewKey(t, "EdDSA", "k1")
	idp := jwttest.NewIdP(t, false, k)
	idp.SetDown(true)
	clk := newClock(time.Now())
	j := newTestJWT(t, issuerFor(idp.URL(), ""), clk, nil)
	tok := k.Sign(t, jwttest.Claims("https://idp.test/", "svc", "api", ""))
	if _, f, ra := verify(j, tok); f != JWTUnavailable || ra < 1 {
		t.Fatalf("Verify = %v retry %d, want unavailable with Retry-After", f, ra)
	}
	if err := j.Ready(); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("Ready = %v", err)
	}
	idp.SetDown(false)
	// An unknown kid does not help an issuer without a set; the retry
	// loop (1s backoff) does.
	deadline := time.Now().Add(5 * time.Second)
	for j.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the set never loaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, f, _ := verify(j, tok); f != JWTOK {
		t.Fatalf("Verify = %v", f)
	}
}

func TestReloadKeepsKeySource(t *testing.T) {
	k := jwttest.NewKey(t, "RS256", "k1")
	idp := jwttest.NewIdP(t, false, k)
	clk := newClock(time.Now())
	is := issuerFor(idp.URL(), "")
	old, err := NewJWT([]JWTIssuer{is}, JWTOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	fetches := idp.Fetches.Load()
	is.Audiences = []string{"api"}
	next, err := NewJWT([]JWTIssuer{is}, JWTOptions{Now: clk.now, Previous: old})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	old.Close()
	if idp.Fetches.Load() != fetches {
		t.Fatal("a reload with the same jwks_url fetched again")
	}
	idp.SetDown(true)
	if _, f, _ := verify(next, k.Sign(t, jwttest.Claims("https://idp.test/", "s", "api", ""))); f != JWTOK {
		t.Fatalf("Verify after reload = %v", f)
	}
}

func TestFailureDescriptions(t *testing.T) {
	k := jwttest.NewKey(t, "RS256", "k1")
	clk := newClock(time.Now())
	dir := t.TempDir()
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, jwttest.JWKS(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	is := issuerFor("", file)
	is.Audiences = []string{"api"}
	j := newTestJWT(t, is, clk, nil)
	base := func() jwt.MapClaims { return jwttest.Claims("https://idp.test/", "s", "api", "") }
	with := func(key string, v any) jwt.MapClaims { c := base(); c[key] = v; return c }
	cases := []struct {
		name string
		tok  string
		want Failure
	}{
		{"valid", k.Sign(t, base()), JWTOK},
		{"expired beyond leeway", k.Sign(t, with("exp", clk.now().Add(-31*time.Second).Unix())), JWTExpired},
		{"expired within leeway", k.Sign(t, with("exp", clk.now().Add(-29*time.Second).Unix())), JWTOK},
		{"nbf ahead", k.Sign(t, with("nbf", clk.now().Add(time.Minute).Unix())), JWTNotYetValid},
		{"aud other", k.Sign(t, with("aud", "other")), JWTWrongAudience},
		{"aud missing", k.Sign(t, with("aud", nil)), JWTWrongAudience},
		{"iss other", k.Sign(t, with("iss", "https://other/")), JWTUnknownIssuer},
		{"kid unknown", jwttest.NewKey(t, "RS256", "k2").Sign(t, base()), JWTUnknownKey},
		{"tampered", jwttest.Tamper(k.Sign(t, base())), JWTBadSignature},
		{"alg none", jwttest.Unsigned("k1", base()), JWTAlgNotAllowed},
		{"HS256 with the public key", k.HS256WithPublicKey(t, base()), JWTAlgNotAllowed},
		{"ES256 token for an RSA kid", func() string { e := jwttest.NewKey(t, "ES256", "k1"); return e.Sign(t, base()) }(), JWTAlgNotAllowed},
		{"sub missing", k.Sign(t, with("sub", nil)), JWTMalformed},
		{"sub not a string", k.Sign(t, with("sub", 42)), JWTMalformed},
		{"not base64", "a.b.c", JWTMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, f, _ := verify(j, tc.tok); f != tc.want {
				t.Fatalf("failure = %v (%q), want %v (%q)", f, f.Description(), tc.want, tc.want.Description())
			}
		})
	}
}
