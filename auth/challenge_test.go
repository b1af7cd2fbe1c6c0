package auth

import "testing"

func TestChallenges(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"no token: realm only (RFC 6750 §3.1)", AppendChallenge(nil, "cobaltgw"), `Bearer realm="cobaltgw"`},
		{"invalid token", AppendInvalidTokenChallenge(nil, "cobaltgw"), `Bearer realm="cobaltgw", error="invalid_token"`},
		{"insufficient scope names one scope", AppendInsufficientScopeChallenge(nil, "cobaltgw", []string{"assets:write"}),
			`Bearer realm="cobaltgw", error="insufficient_scope", scope="assets:write"`},
		{"insufficient scope joins scopes with a space", AppendInsufficientScopeChallenge(nil, "cobaltgw", []string{"a:r", "b:w"}),
			`Bearer realm="cobaltgw", error="insufficient_scope", scope="a:r b:w"`},
		{"realm quote and backslash escaped (RFC 9110 §5.6.4)", AppendChallenge(nil, `my "gw"\x`), `Bearer realm="my \"gw\"\\x"`},
		{"realm CR LF dropped, no header splitting", AppendChallenge(nil, "a\r\nSet-Cookie: x"), `Bearer realm="aSet-Cookie: x"`},
		{"realm tab and obs-text kept", AppendChallenge(nil, "a\tb\xe9"), "Bearer realm=\"a\tb\xe9\""},
		{"empty realm", AppendChallenge(nil, ""), `Bearer realm=""`},
		{"appends to dst", AppendChallenge([]byte("X, "), "r"), `X, Bearer realm="r"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestChallengesDoNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	missing := []string{"assets:read", "assets:write"}
	n := testing.AllocsPerRun(100, func() {
		buf = AppendChallenge(buf[:0], "cobaltgw")
		buf = AppendInvalidTokenChallenge(buf[:0], "cobaltgw")
		buf = AppendInsufficientScopeChallenge(buf[:0], "cobaltgw", missing)
	})
	if n != 0 {
		t.Fatalf("allocates %v times", n)
	}
}

func TestValidRealm(t *testing.T) {
	for s, want := range map[string]bool{"cobaltgw": true, `quo"te`: true, "tab\there": true, "": true, "cr\r": false, "nul\x00": false, "del\x7f": false} {
		if ValidRealm(s) != want {
			t.Errorf("ValidRealm(%q) = %v, want %v", s, !want, want)
		}
	}
}
