package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

func digestOf(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func mustTokens(t testing.TB, entries ...TokenEntry) *Tokens {
	t.Helper()
	tk, err := NewTokens(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestNewTokensRefusesBadEntries(t *testing.T) {
	good := digestOf("secret-a")
	tests := []struct {
		name    string
		entries []TokenEntry
		index   int
		field   string
		is      error
	}{
		{"empty id", []TokenEntry{{ID: "", SHA256Hex: good}}, 0, "id", ErrEmptyID},
		{"duplicate id names the second entry", []TokenEntry{{ID: "a", SHA256Hex: good}, {ID: "a", SHA256Hex: digestOf("other")}}, 1, "id", ErrDuplicateID},
		{"digest too short", []TokenEntry{{ID: "a", SHA256Hex: good[:63]}}, 0, "sha256", ErrBadDigest},
		{"digest too long", []TokenEntry{{ID: "a", SHA256Hex: good + "0"}}, 0, "sha256", ErrBadDigest},
		{"digest with a non-hex digit", []TokenEntry{{ID: "a", SHA256Hex: "g" + good[1:]}}, 0, "sha256", ErrBadDigest},
		{"digest is not the token itself", []TokenEntry{{ID: "a", SHA256Hex: "secret-a"}}, 0, "sha256", ErrBadDigest},
		{"duplicate digest across cases", []TokenEntry{{ID: "a", SHA256Hex: good}, {ID: "b", SHA256Hex: strings.ToUpper(good)}}, 1, "sha256", ErrDuplicateDigest},
		{"scope with a space", []TokenEntry{{ID: "a", SHA256Hex: good, Scopes: []string{"a b"}}}, 0, "scopes", ErrBadScope},
		{"empty scope", []TokenEntry{{ID: "a", SHA256Hex: good, Scopes: []string{""}}}, 0, "scopes", ErrBadScope},
		{"scope with a quote", []TokenEntry{{ID: "a", SHA256Hex: good, Scopes: []string{`a"b`}}}, 0, "scopes", ErrBadScope},
		{"empty org", []TokenEntry{{ID: "a", SHA256Hex: good, Orgs: []string{""}}}, 0, "orgs", ErrBadOrg},
		{"org with a space", []TokenEntry{{ID: "a", SHA256Hex: good, Orgs: []string{"acme corp"}}}, 0, "orgs", ErrBadOrg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTokens(tt.entries)
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *EntryError", err)
			}
			if ee.Index != tt.index || ee.Field != tt.field || !errors.Is(err, tt.is) {
				t.Fatalf("err = %v (index %d field %q), want index %d field %q is %v", err, ee.Index, ee.Field, tt.index, tt.field, tt.is)
			}
			if strings.Contains(err.Error(), "secret-a") && tt.name != "digest is not the token itself" {
				t.Fatalf("error %q reveals a token", err)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tk := mustTokens(t,
		TokenEntry{ID: "lower", SHA256Hex: digestOf("tok-lower"), Scopes: []string{"assets:read"}},
		TokenEntry{ID: "upper", SHA256Hex: strings.ToUpper(digestOf("tok-upper"))},
	)
	tests := []struct {
		name   string
		token  string
		wantID string
	}{
		{"known token, lowercase digest", "tok-lower", "lower"},
		{"known token, uppercase digest", "tok-upper", "upper"},
		{"unknown token", "tok-other", ""},
		{"prefix of a known token", "tok-lowe", ""},
		{"token differing in case", "TOK-LOWER", ""},
		{"empty token", "", ""},
		{"the digest itself is not a token", digestOf("tok-lower"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := tk.Lookup([]byte(tt.token))
			if ok != (tt.wantID != "") || (ok && id.ID != tt.wantID) {
				t.Fatalf("Lookup(%q) = %v, %v; want id %q", tt.token, id, ok, tt.wantID)
			}
		})
	}
	if tk.Len() != 2 {
		t.Fatalf("Len = %d", tk.Len())
	}
	var none *Tokens
	if _, ok := none.Lookup([]byte("x")); ok || none.Len() != 0 {
		t.Fatal("a nil table must know no token")
	}
	empty := mustTokens(t)
	if _, ok := empty.Lookup([]byte("x")); ok {
		t.Fatal("an empty table must know no token")
	}
}

func TestMissingScopes(t *testing.T) {
	tk := mustTokens(t, TokenEntry{ID: "a", SHA256Hex: digestOf("t"), Scopes: []string{"assets:read", "assets:write"}})
	id, _ := tk.Lookup([]byte("t"))
	tests := []struct {
		name     string
		id       *Identity
		required []string
		want     []string
	}{
		{"no scope required", id, nil, nil},
		{"all required scopes held", id, []string{"assets:read", "assets:write"}, nil},
		{"one of two missing", id, []string{"assets:read", "billing:read"}, []string{"billing:read"}},
		{"all missing, in route order", id, []string{"z:w", "a:r"}, []string{"z:w", "a:r"}},
		{"a scope required twice is named once", id, []string{"x", "x"}, []string{"x"}},
		{"scopes are case-sensitive", id, []string{"Assets:Read"}, []string{"Assets:Read"}},
		{"nil identity holds nothing", nil, []string{"assets:read"}, []string{"assets:read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.id.MissingScopes(tt.required, nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("MissingScopes(%q) = %q, want %q", tt.required, got, tt.want)
			}
		})
	}
	t.Run("appends after the existing elements of dst", func(t *testing.T) {
		got := id.MissingScopes([]string{"x", "pre"}, []string{"pre"})
		if !slices.Equal(got, []string{"pre", "x", "pre"}) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("no allocation with a buffer", func(t *testing.T) {
		buf := make([]string, 0, 4)
		req := []string{"assets:read", "billing:read"}
		if n := testing.AllocsPerRun(100, func() { buf = id.MissingScopes(req, buf[:0]) }); n != 0 {
			t.Fatalf("allocates %v times", n)
		}
	})
}

func TestAllowsOrg(t *testing.T) {
	tk := mustTokens(t,
		TokenEntry{ID: "any", SHA256Hex: digestOf("any")},
		TokenEntry{ID: "acme", SHA256Hex: digestOf("acme"), Orgs: []string{"org_acme", "org_beta"}},
	)
	anyID, _ := tk.Lookup([]byte("any"))
	acme, _ := tk.Lookup([]byte("acme"))
	tests := []struct {
		name   string
		id     *Identity
		values [][]byte
		want   bool
	}{
		{"empty orgs: any organisation", anyID, lines("org_other"), true},
		{"empty orgs: header not needed", anyID, nil, true},
		{"listed org", acme, lines("org_acme"), true},
		{"second listed org", acme, lines("org_beta"), true},
		{"listed org with surrounding whitespace", acme, lines(" org_acme\t"), true},
		{"missing header", acme, nil, false},
		{"other org", acme, lines("org_other"), false},
		{"prefix of a listed org", acme, lines("org_ac"), false},
		{"orgs are case-sensitive", acme, lines("ORG_ACME"), false},
		{"empty header value", acme, lines(""), false},
		{"two field lines", acme, lines("org_acme", "org_acme"), false},
		{"nil identity is refused", nil, lines("org_acme"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.AllowsOrg(tt.values); got != tt.want {
				t.Fatalf("AllowsOrg(%q) = %v, want %v", tt.values, got, tt.want)
			}
		})
	}
	if strings.Contains(strings.ToLower(ForbiddenOrgDetail), "org_") {
		t.Fatal("the detail must not name organisations")
	}
}

func TestValidScope(t *testing.T) {
	for s, want := range map[string]bool{"assets:read": true, "a!#[]~": true, "": false, "a b": false, `a\b`: false, "é": false, "a\x7f": false} {
		if ValidScope(s) != want {
			t.Errorf("ValidScope(%q) = %v, want %v", s, !want, want)
		}
	}
}
