package idempotency

import "testing"

func TestAppendScopeIsInjective(t *testing.T) {
	type parts struct {
		kind                CredentialKind
		cred, method, route string
		key                 string
	}
	base := parts{CredentialToken, "client-a", "POST", "/v1/assets", "k1"}
	scope := func(p parts) string {
		return string(AppendScope(nil, p.kind, p.cred, []byte(p.method), p.route, []byte(p.key)))
	}
	tests := []struct {
		name string
		p    parts
	}{
		{"other credential", parts{CredentialToken, "client-b", "POST", "/v1/assets", "k1"}},
		{"address spelled like a token id", parts{CredentialAddress, "client-a", "POST", "/v1/assets", "k1"}},
		{"other method", parts{CredentialToken, "client-a", "PATCH", "/v1/assets", "k1"}},
		{"method case matters (RFC 9110 §9.1)", parts{CredentialToken, "client-a", "post", "/v1/assets", "k1"}},
		{"other route", parts{CredentialToken, "client-a", "POST", "/v1/other", "k1"}},
		{"other key", parts{CredentialToken, "client-a", "POST", "/v1/assets", "k2"}},
		{"byte moved from credential to method", parts{CredentialToken, "client-", "aPOST", "/v1/assets", "k1"}},
		{"byte moved from route to key", parts{CredentialToken, "client-a", "POST", "/v1/asset", "sk1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if scope(tt.p) == scope(base) {
				t.Fatalf("scope of %+v equals scope of %+v", tt.p, base)
			}
		})
	}
	if scope(base) != scope(base) {
		t.Fatal("scope is not deterministic")
	}
	// []byte and string credentials give the same scope.
	a := AppendScope(nil, CredentialToken, []byte("client-a"), []byte("POST"), []byte("/v1/assets"), []byte("k1"))
	if string(a) != scope(base) {
		t.Fatal("[]byte and string parts differ")
	}
	buf := make([]byte, 0, 256)
	method, key := []byte("POST"), []byte("k1")
	if allocs := testing.AllocsPerRun(100, func() {
		buf = AppendScope(buf[:0], CredentialToken, "client-a", method, "/v1/assets", key)
	}); allocs != 0 {
		t.Fatalf("AppendScope into a buffer: %v allocations, want 0", allocs)
	}
}
