// Package jwttest is a small identity provider for tests: signing keys
// (RS256, ES256, EdDSA), JWT access tokens signed with them (golang-jwt),
// and an HTTPS (or plain) JWK Set endpoint on 127.0.0.1 whose keys can be
// rotated and which can be taken down. Tests only.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Key is a signing key with its JWK metadata.
type Key struct {
	Alg, Kid string
	Private  crypto.Signer
}

// NewKey makes a key for alg: "RS256" (RSA 2048), "ES256" (P-256) or
// "EdDSA" (Ed25519).
func NewKey(tb testing.TB, alg, kid string) *Key {
	tb.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("jwttest: no key for %q", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{Alg: alg, Kid: kid, Private: priv}
}

// Claims returns typical access-token claims: iss, sub, aud, iat, nbf, exp
// (one hour), scope.
func Claims(iss, sub, aud, scope string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": iss, "sub": sub, "aud": aud, "scope": scope,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign returns a compact JWS of claims with kid in the header.
func (k *Key) Sign(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	t.Header["kid"] = k.Kid
	t.Header["typ"] = "at+jwt"
	s, err := t.SignedString(k.Private)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Unsigned returns a token with alg "none" (RFC 7519 §6.1).
func Unsigned(kid string, claims jwt.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return b64(h) + "." + b64(c) + "."
}

// HS256WithPublicKey returns the classic key-confusion forgery: an HS256
// token whose HMAC key is the PEM of the issuer's RSA public key.
func (k *Key) HS256WithPublicKey(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		tb.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = k.Kid
	s, err := t.SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Tamper changes one claim byte of a signed token, keeping its signature.
func Tamper(tok string) string {
	parts := strings.Split(tok, ".")
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	c = []byte(strings.Replace(string(c), `"sub":"`, `"sub":"X`, 1))
	parts[1] = b64(c)
	return strings.Join(parts, ".")
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// JWKS returns the JWK Set document of the keys' public halves.
func JWKS(tb testing.TB, keys ...*Key) []byte {
	tb.Helper()
	var set jwkset.JWKSMarshal
	for _, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.Private.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
			ALG: jwkset.ALG(k.Alg), KID: k.Kid, USE: jwkset.UseSig,
		}})
		if err != nil {
			tb.Fatal(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// IdP serves a JWK Set at /jwks.json on 127.0.0.1.
type IdP struct {
	Server  *httptest.Server
	Fetches atomic.Int64
	down    atomic.Bool
	mu      sync.Mutex
	body    []byte
}

// NewIdP starts the endpoint, over HTTPS (a self-signed certificate; see
// CAFile) when tls is true, serving keys.
func NewIdP(tb testing.TB, tls bool, keys ...*Key) *IdP {
	tb.Helper()
	p := &IdP{}
	p.SetKeys(tb, keys...)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Fetches.Add(1)
		if p.down.Load() || r.URL.Path != "/jwks.json" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		b := p.body
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	})
	if tls {
		p.Server = httptest.NewTLSServer(h)
	} else {
		p.Server = httptest.NewServer(h)
	}
	tb.Cleanup(p.Server.Close)
	return p
}

// URL is the JWK Set's address.
func (p *IdP) URL() string { return p.Server.URL + "/jwks.json" }

// SetKeys replaces the published keys (a rotation).
func (p *IdP) SetKeys(tb testing.TB, keys ...*Key) {
	b := JWKS(tb, keys...)
	p.mu.Lock()
	p.body = b
	p.mu.Unlock()
}

// SetDown makes the endpoint answer 503 (true) or serve again (false).
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// CAFile writes the HTTPS server's certificate as a PEM file in dir and
// returns its path, for SSL_CERT_FILE.
func (p *IdP) CAFile(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "idp-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Server.Certificate().Raw})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
