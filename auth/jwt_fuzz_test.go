package auth

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/jwttest"
)

// FuzzVerify feeds arbitrary Bearer tokens to the verifier: it must never
// panic, and only the one genuinely signed seed may pass.
func FuzzVerify(f *testing.F) {
	k := jwttest.NewKey(f, "ES256", "k1")
	file := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwttest.JWKS(f, k), 0o600); err != nil {
		f.Fatal(err)
	}
	clk := newClock(time.Now())
	j := newTestJWT(f, issuerFor("", file), clk, nil)
	valid := k.Sign(f, jwttest.Claims("https://idp.test/", "s", "api", "a b"))
	for _, seed := range []string{
		valid, jwttest.Tamper(valid), jwttest.Unsigned("k1", jwttest.Claims("https://idp.test/", "s", "api", "")),
		"a.b.c", "..", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		d := sha256.Sum256([]byte(tok))
		id, fail, _ := j.Verify([]byte(tok), &d)
		if fail == JWTOK && (tok != valid || id == nil) {
			t.Fatalf("accepted %q", tok)
		}
	})
}
