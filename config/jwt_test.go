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

	_, err = Parse([]byte(minimal+`
[[auth.jwt]]
issuer = "https://idp.example.com/"
jwks_url = "https://idp.example.com/jwks"
algorithms = ["RS256", "none"]

[[auth.jwt]]
issuer = "https://other.example.com/"
jwks_url = "https://other.example.com/jwks"
algorithms = ["HS256"]
`), "c.toml")
	if err == nil {
		t.Fatal("none and HS256 were accepted")
	}
	for _, want := range []string{"c.toml:14:1: auth.jwt[0].algorithms:", `"none" is refused`, "c.toml:19:1: auth.jwt[1].algorithms:", "HMAC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
