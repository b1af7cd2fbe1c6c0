package idempotency

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func lines(v ...string) [][]byte {
	out := make([][]byte, len(v))
	for i, s := range v {
		out[i] = []byte(s)
	}
	return out
}

func TestParseKey(t *testing.T) {
	long255 := strings.Repeat("k", 255)
	tests := []struct {
		name   string
		values [][]byte
		want   string // key, when err is nil
		err    error
	}{
		{"sf string as the IETF draft writes it", lines(`"8e03978e"`), "8e03978e", nil},
		{"bare form as Stripe clients send it", lines(`8e03978e`), "8e03978e", nil},
		{"bare uuid", lines("f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", nil},
		{"escaped quote and backslash are undone", lines(`"a\"b\\c"`), `a"b\c`, nil},
		{"space is allowed inside a string", lines(`"a b"`), "a b", nil},
		{"string of one space is a key", lines(`" "`), " ", nil},
		{"OWS around a bare key is not part of the value", lines(" \tabc\t "), "abc", nil},
		{"OWS around a string is not part of the value", lines(` "abc" `), "abc", nil},
		{"bare key may contain a quote after the first character", lines(`a"b`), `a"b`, nil},
		{"bare key may contain a backslash", lines(`a\b`), `a\b`, nil},
		{"bare comma is a key character (0x2C is in 0x21-0x7E)", lines(`a,b`), "a,b", nil},
		{"bare key of 255 characters", lines(long255), long255, nil},
		{"string of 255 characters", lines(`"` + long255 + `"`), long255, nil},
		{"length counts unescaped characters", lines(`"` + strings.Repeat(`\\`, 255) + `"`), strings.Repeat(`\`, 255), nil},

		{"no field line is missing, not invalid", nil, "", ErrMissingKey},
		{"two field lines", lines("abc", "def"), "", ErrInvalidKey},
		{"two identical field lines", lines("abc", "abc"), "", ErrInvalidKey},
		{"empty field value", lines(""), "", ErrInvalidKey},
		{"whitespace-only field value", lines(" \t "), "", ErrInvalidKey},
		{"empty string", lines(`""`), "", ErrInvalidKey},
		{"bare key of 256 characters", lines(long255 + "k"), "", ErrInvalidKey},
		{"string of 256 characters", lines(`"` + long255 + `k"`), "", ErrInvalidKey},
		{"256 unescaped characters", lines(`"` + strings.Repeat(`\"`, 256) + `"`), "", ErrInvalidKey},
		{"space inside a bare key", lines("a b"), "", ErrInvalidKey},
		{"tab inside a bare key", lines("a\tb"), "", ErrInvalidKey},
		{"control character in a bare key", lines("a\x01b"), "", ErrInvalidKey},
		{"DEL in a bare key", lines("a\x7fb"), "", ErrInvalidKey},
		{"NUL in a string", lines("\"a\x00b\""), "", ErrInvalidKey},
		{"tab in a string", lines("\"a\tb\""), "", ErrInvalidKey},
		{"non-ASCII in a bare key", lines("clé"), "", ErrInvalidKey},
		{"non-ASCII in a string", lines(`"clé"`), "", ErrInvalidKey},
		{"string with trailing garbage", lines(`"abc"x`), "", ErrInvalidKey},
		{`"a"b is not a bare key`, lines(`"a"b`), "", ErrInvalidKey},
		{"string with parameters", lines(`"abc";v=1`), "", ErrInvalidKey},
		{"list of two strings on one line", lines(`"abc", "def"`), "", ErrInvalidKey},
		{"unterminated string", lines(`"abc`), "", ErrInvalidKey},
		{"lone quote", lines(`"`), "", ErrInvalidKey},
		{"escape of another character", lines(`"a\b"`), "", ErrInvalidKey},
		{"backslash before the end", lines(`"abc\`), "", ErrInvalidKey},
		{"escaped closing quote leaves it open", lines(`"abc\"`), "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.values)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseKey(%q) = %q, %v; want error %v", tt.values, got, err, tt.err)
				}
				if tt.err == ErrInvalidKey && errors.Is(err, ErrMissingKey) {
					t.Fatalf("invalid key reported as missing: %v", err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ParseKey(%q) = %q, %v; want %q", tt.values, got, err, tt.want)
			}
		})
	}
}

func TestParseKeyBothSpellingsAreTheSameKey(t *testing.T) {
	for _, pair := range [][2]string{
		{`"abc"`, `abc`},
		{`"8e03978e"`, `8e03978e`},
		{`"a\"b"`, `a"b`},
		{`"a\\b"`, `a\b`},
	} {
		q, errQ := ParseKey(lines(pair[0]))
		b, errB := ParseKey(lines(pair[1]))
		if errQ != nil || errB != nil || !bytes.Equal(q, b) {
			t.Errorf("%s → %q, %v; %s → %q, %v; want the same key", pair[0], q, errQ, pair[1], b, errB)
		}
	}
}

func TestParseKeyAliasesTheFieldWithoutEscapes(t *testing.T) {
	for _, v := range []string{`abc`, `"abc"`} {
		values := lines(v)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseKey(values); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("ParseKey(%s): %v allocations, want 0", v, allocs)
		}
	}
	// A rejected key costs no allocation either (wrapped errors are prebuilt).
	bad := lines("a b")
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ParseKey(bad) }); allocs != 0 {
		t.Errorf("rejecting a key: %v allocations, want 0", allocs)
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		`"8e03978e"`, `8e03978e`, `"a\"b\\c"`, `"a b"`, `""`, ``, `"a"b`, `"abc";v=1`,
		`"abc`, `a"b`, " abc ", "a\x00b", "clé", strings.Repeat("k", 256),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := ParseKey([][]byte{[]byte(v)})
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey(%q): %v does not wrap ErrInvalidKey", v, err)
			}
			return
		}
		if len(key) < 1 || len(key) > MaxKeyLen {
			t.Fatalf("ParseKey(%q) = %q: length %d outside 1-255", v, key, len(key))
		}
		for _, c := range key {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: byte %#x outside 0x20-0x7E", v, key, c)
			}
		}
		// Every key can be sent as a String and means the same key.
		again, err := ParseKey([][]byte{appendQuotedKey(nil, key)})
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("quoted %q → %q, %v", key, again, err)
		}
		// And as a bare key, when it has no space and does not start with a quote.
		if key[0] != '"' && bytes.IndexByte(key, ' ') < 0 {
			bare, err := ParseKey([][]byte{key})
			if err != nil || !bytes.Equal(bare, key) {
				t.Fatalf("bare %q → %q, %v", key, bare, err)
			}
		}
	})
}
