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
		return string(AppendScope(nil, p.kind, p.cred, nil, []byte(p.method), p.route, []byte(p.key)))
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
	a := AppendScope(nil, CredentialToken, []byte("client-a"), nil, []byte("POST"), []byte("/v1/assets"), []byte("k1"))
	if string(a) != scope(base) {
		t.Fatal("[]byte and string parts differ")
	}
	buf := make([]byte, 0, 256)
	method, key := []byte("POST"), []byte("k1")
	if allocs := testing.AllocsPerRun(100, func() {
		buf = AppendScope(buf[:0], CredentialToken, "client-a", nil, method, "/v1/assets", key)
	}); allocs != 0 {
		t.Fatalf("AppendScope into a buffer: %v allocations, want 0", allocs)
	}
}

func TestScopeOrgAndClient(t *testing.T) {
	a := AppendScope(nil, CredentialToken, "client-a", []byte("org-1"), []byte("POST"), "/v1/assets", []byte("k1"))
	b := AppendScope(nil, CredentialToken, "client-a", []byte("org-2"), []byte("POST"), "/v1/assets", []byte("k1"))
	c := AppendScope(nil, CredentialToken, "client-a", nil, []byte("PATCH"), "/v1/x", []byte("k2"))
	if string(a) == string(b) {
		t.Fatal("X-Org-Token is not in the scope")
	}
	if string(Client(a)) != string(Client(b)) || string(Client(a)) != string(Client(c)) {
		t.Fatal("one credential has several clients")
	}
	h := AppendScope(nil, CredentialAuthorization, "client-a", nil, []byte("POST"), "/v1/assets", []byte("k1"))
	if string(Client(h)) == string(Client(a)) {
		t.Fatal("credential kinds share a client")
	}
	for _, bad := range [][]byte{nil, {2}, {2, 't', 200}, {2, 't', 5, 'a'}} {
		_ = Client(bad) // never panics
	}
}
