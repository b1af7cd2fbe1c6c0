package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// maxTokenBytes bounds what HashToken reads: far above any token a header of
// the default 16 KiB limit could carry, small enough for a mistaken pipe.
const maxTokenBytes = 64 << 10

// ErrEmptyToken is returned by HashToken for an empty input (or a newline
// alone): no request can present an empty Bearer token.
var ErrEmptyToken = errors.New("empty token")

// HashToken implements `cobaltgw hash-token`: it reads one token from r
// (standard input), strips ONE trailing "\n" or "\r\n" — what `echo` or a
// terminal adds is not part of the token — and returns the lowercase hex
// SHA-256 to write as sha256 in [[auth.tokens]].
//
// A token that could never be presented is refused rather than hashed: an
// empty one, or one with a byte outside RFC 6750 §2.1 b64token (a second
// newline, a space, a quote…); the error gives the byte offset, never the
// token.
func HashToken(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTokenBytes+3))
	if err != nil {
		return "", fmt.Errorf("hash-token: reading the token: %w", err)
	}
	switch {
	case len(b) >= 2 && b[len(b)-2] == '\r' && b[len(b)-1] == '\n':
		b = b[:len(b)-2]
	case len(b) >= 1 && b[len(b)-1] == '\n':
		b = b[:len(b)-1]
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("hash-token: the token is longer than %d bytes", maxTokenBytes)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("hash-token: %w: write the token on standard input", ErrEmptyToken)
	}
	if i := b64TokenBadIndex(b); i >= 0 {
		return "", fmt.Errorf("hash-token: byte %d of the token is not allowed in a Bearer token "+
			"(RFC 6750 §2.1: letters, digits, - . _ ~ + / then optional = padding); only one trailing newline is removed", i)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
