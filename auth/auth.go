// Package auth decides who a request is and what it may do, for Bearer tokens
// (RFC 6750) carried in the Authorization header (RFC 9110 §11.6.2).
//
// The model:
//
//   - ParseAuthorization reads the Authorization field lines and yields the
//     presented token, or why there is none: Missing (no header: the 401 gets
//     a bare challenge), Malformed (several field lines: 400), Invalid (other
//     scheme, empty or non-b64token credentials: 401 invalid_token).
//   - Tokens is the table of configured tokens. Only their SHA-256 digests are
//     held, so neither the config nor a heap dump holds a usable secret.
//     Lookup hashes the presented token and returns its *Identity.
//   - An Identity carries the token's id, its scopes and the organisations it
//     may act for; MissingScopes and AllowsOrg are the authorization (403)
//     decisions. The proxy runs them in that order: 401, then scopes
//     (insufficient_scope), then orgs (forbidden).
//   - The Append…Challenge functions build the WWW-Authenticate values every
//     401 and insufficient_scope 403 carries.
//
// Invariants: the package never logs, stores or returns a presented token
// beyond the subslice ParseAuthorization hands back; the request path
// (parse, lookup, scope and org checks, challenges into a reused buffer) does
// not allocate; nothing here writes HTTP responses — the proxy turns each
// result into a contract response.
package auth

import "github.com/cobaltgw/cobaltgw/internal/httpsyntax"

// ParseResult says what ParseAuthorization found. The zero value is ParseOK.
type ParseResult uint8

const (
	// ParseOK: one field line, scheme Bearer, a well-formed token.
	ParseOK ParseResult = iota
	// ParseMissing: no Authorization field line at all (401 missing_token,
	// challenge without error code, RFC 6750 §3.1).
	ParseMissing
	// ParseMalformed: more than one Authorization field line. The field is a
	// singleton (RFC 9110 §11.6.2 defines one credentials value, and §5.3
	// forbids repeating a field that is not a list), so the request is
	// malformed: 400 malformed_request.
	ParseMalformed
	// ParseInvalid: a field line was sent but holds no usable Bearer token:
	// another scheme, an empty value or token, or characters outside
	// b64token (401 invalid_token).
	ParseInvalid
)

// String returns a name for logs and test output.
func (r ParseResult) String() string {
	switch r {
	case ParseOK:
		return "ok"
	case ParseMissing:
		return "missing"
	case ParseMalformed:
		return "malformed"
	case ParseInvalid:
		return "invalid"
	}
	return "unknown"
}

const bearerScheme = "Bearer"

// ParseAuthorization extracts the Bearer token from the Authorization field
// lines of a request (with fasthttp: RequestHeader.PeekAll("Authorization"),
// never Peek, which would hide a second line). The token is a subslice of
// values[0]: it is valid only as long as the request is, and nothing is
// allocated.
func ParseAuthorization(values [][]byte) (token []byte, res ParseResult) {
	switch len(values) {
	case 0:
		return nil, ParseMissing
	case 1:
	default:
		return nil, ParseMalformed
	}
	// RFC 9110 §5.5: a field value excludes leading and trailing whitespace
	// (OWS = SP / HTAB); parsers are told to strip it.
	v := httpsyntax.TrimOWS(values[0])
	// RFC 9110 §11.1: the auth-scheme is a case-insensitive token.
	if len(v) < len(bearerScheme) || !httpsyntax.EqualFoldASCII(v[:len(bearerScheme)], bearerScheme) {
		return nil, ParseInvalid
	}
	rest := v[len(bearerScheme):]
	// RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / ... ) ].
	// Only SP separates scheme and token; "Bearerabc" and "Bearer\tabc" are
	// other schemes as far as the grammar goes, hence Invalid.
	i := 0
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	if i == 0 {
		return nil, ParseInvalid // "Bearer" alone, "Bearer " (trimmed), or "BearerX…"
	}
	token = rest[i:]
	if !isB64Token(token) {
		return nil, ParseInvalid
	}
	return token, ParseOK
}

// b64tokenChar marks the bytes of RFC 6750 §2.1
// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
var b64tokenChar = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~+/" {
		t[c] = true
	}
	return t
}()

// isB64Token reports whether b matches RFC 6750 §2.1 b64token: at least one
// token character, then only "=" padding to the end.
func isB64Token(b []byte) bool {
	return b64TokenBadIndex(b) < 0
}

// b64TokenBadIndex returns the offset of the first byte that breaks the
// b64token rule (0 when b is empty or starts with padding), or -1 when b is
// a b64token.
func b64TokenBadIndex(b []byte) int {
	i := 0
	for i < len(b) && b64tokenChar[b[i]] {
		i++
	}
	if i == 0 {
		return 0 // empty, padding alone, or a foreign first byte
	}
	for j := i; j < len(b); j++ {
		if b[j] != '=' {
			return j
		}
	}
	return -1
}
