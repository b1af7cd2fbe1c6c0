package idempotency

import (
	"errors"
	"fmt"
	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

// HeaderName is the request field that carries the key.
const HeaderName = "Idempotency-Key"

// MaxKeyLen is the longest key, counted once escapes are undone.
const MaxKeyLen = 255

// ErrMissingKey means the request has no Idempotency-Key field line. The
// proxy answers 400 idempotency_key_required when the route requires a key
// and otherwise forwards the request without idempotency.
var ErrMissingKey = errors.New("idempotency: no Idempotency-Key header")

// ErrInvalidKey means the Idempotency-Key field is present but not a key:
// the proxy answers 400 invalid_idempotency_key. Every error from ParseKey
// other than ErrMissingKey wraps it.
var ErrInvalidKey = errors.New("idempotency: invalid Idempotency-Key")

// The reasons are built once so that a rejected key costs no allocation.
var (
	errKeyLines        = fmt.Errorf("%w: more than one field line", ErrInvalidKey)
	errKeyEmpty        = fmt.Errorf("%w: empty", ErrInvalidKey)
	errKeyTooLong      = fmt.Errorf("%w: longer than %d characters", ErrInvalidKey, MaxKeyLen)
	errKeyChar         = fmt.Errorf("%w: character outside 0x21-0x7E", ErrInvalidKey)
	errKeyQuotedChar   = fmt.Errorf("%w: character outside 0x20-0x7E in string", ErrInvalidKey)
	errKeyEscape       = fmt.Errorf("%w: backslash not followed by \\\" or \\\\", ErrInvalidKey)
	errKeyUnterminated = fmt.Errorf("%w: string has no closing quote", ErrInvalidKey)
	errKeyTrailing     = fmt.Errorf("%w: characters after the closing quote", ErrInvalidKey)
)

// ParseKey returns the key carried by the Idempotency-Key field lines in
// values (one element per field line, as received).
//
// Two spellings name the same key (README.md):
//   - a Structured Field String (RFC 8941 §3.3.3), `"8e03978e"`: the key is
//     its content with the `\"` and `\\` escapes undone, 1–255 characters of
//     0x20–0x7E. Nothing may follow the closing quote: parameters
//     (`"k";a=1`, RFC 8941 §3.1.2) are refused like any other trailing text.
//   - the bare form Stripe clients send, `8e03978e`: 1–255 characters of
//     0x21–0x7E. A value that starts with a double quote is always read as a
//     String, so `"a"b` is invalid rather than a bare key.
//
// Leading and trailing SP/HTAB are not part of a field value (RFC 9110 §5.5)
// and are ignored. No field line gives ErrMissingKey; more than one field
// line, or anything else, gives an error wrapping ErrInvalidKey.
//
// The result aliases values[0] (no allocation) unless the String contains
// escapes, in which case it is a new slice.
func ParseKey(values [][]byte) ([]byte, error) {
	switch len(values) {
	case 0:
		return nil, ErrMissingKey
	case 1:
	default:
		return nil, errKeyLines
	}
	v := httpsyntax.TrimOWS(values[0])
	if len(v) == 0 {
		return nil, errKeyEmpty
	}
	if v[0] == '"' {
		return parseString(v)
	}
	if len(v) > MaxKeyLen {
		return nil, errKeyTooLong
	}
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return nil, errKeyChar
		}
	}
	return v, nil
}

// parseString follows RFC 8941 §4.2.5 (Parsing a String) for v, which starts
// with DQUOTE, and requires the String to end v.
func parseString(v []byte) ([]byte, error) {
	n, escapes := 0, false
	i := 1
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			if i != len(v)-1 {
				return nil, errKeyTrailing
			}
			if n == 0 {
				return nil, errKeyEmpty
			}
			if !escapes {
				return v[1:i], nil
			}
			return unescape(make([]byte, 0, n), v[1:i]), nil
		case c == '\\':
			// §4.2.5 step 4.2: only DQUOTE and "\" may be escaped.
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return nil, errKeyEscape
			}
			escapes = true
		case c < 0x20 || c > 0x7e:
			// §3.3.3: unescaped = %x20-21 / %x23-5B / %x5D-7E.
			return nil, errKeyQuotedChar
		}
		n++
		if n > MaxKeyLen {
			return nil, errKeyTooLong
		}
	}
	return nil, errKeyUnterminated
}

// unescape appends s (a validated String body) to dst with escapes undone.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		dst = append(dst, s[i])
	}
	return dst
}

// appendQuotedKey appends key as a Structured Field String (RFC 8941
// §4.1.6), the spelling a client or a test would send. key must be 0x20–0x7E.
func appendQuotedKey(dst, key []byte) []byte {
	dst = append(dst, '"')
	for _, c := range key {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
