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
	// unauthenticated and the request has no Authorization header. Pass it
	// in one canonical form (for example netip.Addr.Unmap().AppendTo), or
	// one client gets two scopes.
	CredentialAddress CredentialKind = 'a'
	// CredentialAuthorization: a SHA-256 of the Authorization header, when
	// the route is unauthenticated but the client sent one (it
	// authenticates with the upstream): clients behind one address never
	// share keys, nor can one replay another's stored responses.
	CredentialAuthorization CredentialKind = 'h'
)

// Text is a string or a byte slice: config values are strings, fasthttp
// hands out byte slices, and AppendScope takes either without converting.
type Text interface{ ~string | ~[]byte }

// scopeVersion starts every scope so that a later change of encoding cannot
// collide with entries a shared store still holds.
// Version 2 added the X-Org-Token value.
const scopeVersion = 2

// AppendScope appends the store key of an idempotency key to dst and returns
// the extended slice. A key is scoped to the credential, the X-Org-Token
// value (org, nil when none was sent), the method and the route
// (README.md): two tokens, or one token acting for two orgs, may use the
// same key without colliding.
//
// Every part is preceded by its length (uvarint), so the encoding is
// injective: no choice of parts can spell another choice's scope. route is
// the route's identity in the config (its path pattern or name); method is
// case-sensitive (RFC 9110 §9.1). The scope starts with its client part
// (see Client): the unit of max_keys_per_client. Append into a reused
// buffer and this does not allocate.
func AppendScope[C, R Text](dst []byte, kind CredentialKind, credential C, org, method []byte, route R, key []byte) []byte {
	dst = append(dst, scopeVersion, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(len(credential)))
	dst = append(dst, credential...)
	dst = binary.AppendUvarint(dst, uint64(len(org)))
	dst = append(dst, org...)
	dst = binary.AppendUvarint(dst, uint64(len(method)))
	dst = append(dst, method...)
	dst = binary.AppendUvarint(dst, uint64(len(route)))
	dst = append(dst, route...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// Client returns the client part of a scope AppendScope wrote: version,
// kind and credential. It aliases scope. A scope it cannot read (not
// written by AppendScope) is its own client.
func Client(scope []byte) []byte { return scope[:clientLen(scope)] }

func clientLen[T Text](scope T) int {
	if len(scope) < 2 {
		return len(scope)
	}
	// binary.Uvarint on a string without converting it.
	var n uint64
	var shift uint
	for i := 2; i < len(scope) && i < 2+binary.MaxVarintLen64; i++ {
		c := scope[i]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			w := i - 1
			if n > uint64(len(scope)-2-w) {
				return len(scope)
			}
			return 2 + w + int(n)
		}
		shift += 7
	}
	return len(scope)
}
