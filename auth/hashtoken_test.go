package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestHashToken(t *testing.T) {
	want := digestOf("s3cr3t-token")
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"without newline", "s3cr3t-token", want, false},
		{"one trailing LF stripped (echo)", "s3cr3t-token\n", want, false},
		{"one trailing CRLF stripped", "s3cr3t-token\r\n", want, false},
		{"padding kept", "abc==\n", digestOf("abc=="), false},
		{"only one newline stripped: the second is refused", "s3cr3t-token\n\n", "", true},
		{"lone trailing CR is not a newline: refused", "s3cr3t-token\r", "", true},
		{"leading space refused", " s3cr3t-token", "", true},
		{"inner space refused", "s3cr3t token", "", true},
		{"empty input", "", "", true},
		{"newline alone", "\n", "", true},
		{"too long", strings.Repeat("a", maxTokenBytes+1), "", true},
		{"longest allowed, with newline", strings.Repeat("a", maxTokenBytes) + "\r\n", digestOf(strings.Repeat("a", maxTokenBytes)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HashToken(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("HashToken(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && len(tt.in) > 3 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Fatalf("error %q reveals the token", err)
			}
		})
	}
	if _, err := HashToken(strings.NewReader("")); !errors.Is(err, ErrEmptyToken) {
		t.Fatalf("empty input: err = %v, want ErrEmptyToken", err)
	}
	if _, err := HashToken(iotest.ErrReader(errors.New("boom"))); err == nil {
		t.Fatal("a read error must be returned")
	}
}

// TestHashTokenRoundTrip: the digest hash-token prints is the one Lookup
// finds — the path an operator actually takes.
func TestHashTokenRoundTrip(t *testing.T) {
	d, err := HashToken(strings.NewReader("mF_9.B5f-4.1JqM\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d != strings.ToLower(d) || len(d) != hex.EncodedLen(sha256.Size) {
		t.Fatalf("digest %q is not 64 lowercase hex digits", d)
	}
	tk := mustTokens(t, TokenEntry{ID: "c", SHA256Hex: d})
	tok, res := ParseAuthorization(lines("Bearer mF_9.B5f-4.1JqM"))
	if id, ok := tk.Lookup(tok); res != ParseOK || !ok || id.ID != "c" {
		t.Fatalf("round trip failed: %v %v", res, ok)
	}
}
