package idempotency

import "encoding/binary"

// CredentialKind says what identifies the client in a scope. It is part of
// the scope, so a token whose id happens to spell an address never shares
// keys with that address.
type CredentialKind byte

const (
	// CredentialToken: the authenticated token's configured id.
	CredentialToken CredentialKind = 't'
	// CredentialAddress: the client address, when the route is
	// unauthenticated. Pass it in one canonical form (for example
	// netip.Addr.Unmap().AppendTo), or one client gets two scopes.
	CredentialAddress CredentialKind = 'a'
)

// Text is a string or a byte slice: config values are strings, fasthttp
// hands out byte slices, and AppendScope takes either without converting.
type Text interface{ ~string | ~[]byte }

// scopeVersion starts every scope so that a later change of encoding cannot
// collide with entries a shared store still holds.
const scopeVersion = 1

// AppendScope appends the store key of an idempotency key to dst and returns
// the extended slice. A key is scoped to the credential, the method and the
// route (CONTRACT.md): two tokens may use the same key without colliding.
//
// Every part is preceded by its length (uvarint), so the encoding is
// injective: no choice of parts can spell another choice's scope. route is
// the route's identity in the config (its path pattern or name); method is
// case-sensitive (RFC 9110 §9.1). Append into a reused buffer and this does
// not allocate.
func AppendScope[C, R Text](dst []byte, kind CredentialKind, credential C, method []byte, route R, key []byte) []byte {
	dst = append(dst, scopeVersion, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(len(credential)))
	dst = append(dst, credential...)
	dst = binary.AppendUvarint(dst, uint64(len(method)))
	dst = append(dst, method...)
	dst = binary.AppendUvarint(dst, uint64(len(route)))
	dst = append(dst, route...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}
