package auth

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/jwttest"
)

// BenchmarkJWTCached is the cost of a token verified before: SHA-256 of
// the token and a cache lookup (the figure README.md "JWT access tokens"
// quotes; the target is under 2µs and no allocation).
func BenchmarkJWTCached(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			j, tok := benchJWT(b, alg, true)
			if _, f, _ := j.Verify(tok, sumBytes(tok)); f != JWTOK {
				b.Fatal(f)
			}
			j.cache.wait()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				d := sha256.Sum256(tok)
				if _, ok := j.Cached(&d); !ok {
					b.Fatal("not cached")
				}
			}
		})
	}
}

// BenchmarkJWTFirstVerification is the cost of a token seen for the first
// time: parse, key lookup, signature, claims, identity (no cache).
func BenchmarkJWTFirstVerification(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			j, tok := benchJWT(b, alg, false)
			d := sumBytes(tok)
			b.ReportAllocs()
			for b.Loop() {
				if _, f, _ := j.Verify(tok, d); f != JWTOK {
					b.Fatal(f)
				}
			}
		})
	}
}

func sumBytes(b []byte) *[32]byte { d := sha256.Sum256(b); return &d }

func benchJWT(b *testing.B, alg string, cached bool) (*JWT, []byte) {
	k := jwttest.NewKey(b, alg, "k1")
	idp := jwttest.NewIdP(b, false, k)
	var cache *TokenCache
	if cached {
		var err error
		if cache, err = NewTokenCache(8 << 20); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cache.Close)
	}
	is := issuerFor(idp.URL(), "")
	is.Audiences = []string{"api"}
	j := newTestJWT(b, is, newClock(time.Now()), cache)
	c := jwttest.Claims("https://idp.test/", "client-123", "api", "assets:read assets:write")
	c["jti"] = "0123456789abcdef"
	c["client_id"] = "client-123"
	return j, []byte(k.Sign(b, c))
}
