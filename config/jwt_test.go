package config

import (
	"strings"
	"testing"
	"time"
)

func TestJWTDefaultsAndErrors(t *testing.T) {
	c, err := Parse([]byte(minimal+`
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_url = "https://idp.example.com/jwks"
`), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	j := c.Auth.JWT[0]
	if j.Leeway.D() != 30*time.Second || j.JWKSRefresh.D() != 5*time.Minute || j.ScopeClaim != "scope" ||
		j.SubjectClaim != "sub" || strings.Join(j.Algorithms, ",") != "RS256,ES256,EdDSA" || len(j.Audiences) != 0 {
		t.Fatalf("defaults: %+v", j)
	}

}
