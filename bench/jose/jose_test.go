// Package jose compares the JOSE libraries the gateway could verify JWT
// access tokens with (docs/jwt.md records the figures and the choice). It
// is a module of its own so the gateway's go.mod carries only the winner:
//
//	cd bench/jose && go test -run XXX -bench . -benchmem
package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
	xjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

type fixture struct {
	alg    string
	signer any
	pub    any
	kid    string
}

func fixtures(tb testing.TB) []fixture {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	epub, epriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return []fixture{
		{"RS256", rk, &rk.PublicKey, "rsa1"},
		{"ES256", ek, &ek.PublicKey, "ec1"},
		{"EdDSA", epriv, epub, "ed1"},
	}
}

func jwksJSON(tb testing.TB, fs []fixture) []byte {
	var set jose.JSONWebKeySet
	for _, f := range fs {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: f.pub, KeyID: f.kid, Algorithm: f.alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func sign(tb testing.TB, f fixture) string {
	sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(f.alg), Key: jose.JSONWebKey{Key: f.signer, KeyID: f.kid}}
	s, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": "https://idp.example.com/", "sub": "client-123", "aud": "api",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"scope": "assets:read assets:write", "client_id": "client-123", "jti": "abcdef0123456789",
	}
	tok, err := josejwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

type claims struct {
	josejwt.Claims
	Scope any `json:"scope"`
}

func BenchmarkVerify(b *testing.B) {
	fs := fixtures(b)
	raw := jwksJSON(b, fs)
	for _, f := range fs {
		tok := sign(b, f)
		b.Run("go-jose-v4/"+f.alg, func(b *testing.B) {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				b.Fatal(err)
			}
			algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}
			b.ReportAllocs()
			for b.Loop() {
				t, err := josejwt.ParseSigned(tok, algs)
				if err != nil {
					b.Fatal(err)
				}
				keys := set.Key(t.Headers[0].KeyID)
				if len(keys) != 1 {
					b.Fatal("no key")
				}
				var c claims
				if err := t.Claims(keys[0].Key, &c); err != nil {
					b.Fatal(err)
				}
				if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: "https://idp.example.com/", AnyAudience: []string{"api"}, Time: time.Now()}, 30*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("golang-jwt-v5+keyfunc-v3/"+f.alg, func(b *testing.B) {
			kf, err := keyfunc.NewJWKSetJSON(raw)
			if err != nil {
				b.Fatal(err)
			}
			p := gjwt.NewParser(gjwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"}), gjwt.WithLeeway(30*time.Second),
				gjwt.WithAudience("api"), gjwt.WithIssuer("https://idp.example.com/"), gjwt.WithExpirationRequired())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(tok, kf.Keyfunc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("jwx-v3/"+f.alg, func(b *testing.B) {
			set, err := jwk.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := xjwt.Parse([]byte(tok), xjwt.WithKeySet(set), xjwt.WithAcceptableSkew(30*time.Second),
					xjwt.WithAudience("api"), xjwt.WithIssuer("https://idp.example.com/")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseJWKS is the cost of reading a three-key JWK Set (done at
// each refresh, not per request).
func BenchmarkParseJWKS(b *testing.B) {
	raw := jwksJSON(b, fixtures(b))
	b.Run("go-jose-v4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("keyfunc-v3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := keyfunc.NewJWKSetJSON(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwx-v3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jwk.Parse(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
