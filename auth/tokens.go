package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

// TokenEntry is one configured token ([[auth.tokens]] in the config): the
// plain values the config package decodes. SHA256Hex is the digest printed by
// `cobaltgw hash-token`; the token itself is never configured.
type TokenEntry struct {
	ID        string
	SHA256Hex string
	Scopes    []string
	Orgs      []string
}

// Identity is what a valid token stands for. It is shared by every request
// that presents the token and must be treated as read-only.
type Identity struct {
	// ID names the token in logs, metrics and credential-keyed rate limits
	// and idempotency scopes; it is not secret and not the token.
	ID string
	// Scopes is the set of scopes the token holds.
	Scopes map[string]struct{}
	// Orgs lists the X-Org-Token values the token may act for; empty means
	// any organisation.
	Orgs []string

	digest   [sha256.Size]byte
	orgBytes [][]byte // Orgs as bytes, so AllowsOrg converts nothing per request
	// orgsRestricted: empty Orgs means none rather than any (a JWT whose
	// issuer sets org_claim but which carries no org).
	orgsRestricted bool
}

// Tokens is the immutable table of configured tokens, keyed by digest. Build
// it once per config load with NewTokens; it is safe for concurrent use. A
// nil *Tokens knows no token.
type Tokens struct {
	byDigest map[[sha256.Size]byte]*Identity
}

// Errors wrapped by EntryError, for errors.Is.
var (
	ErrBadDigest       = errors.New("not a SHA-256 digest")
	ErrDuplicateDigest = errors.New("duplicate token digest")
	ErrDuplicateID     = errors.New("duplicate token id")
	ErrEmptyID         = errors.New("empty token id")
	ErrBadScope        = errors.New("invalid scope")
	ErrBadOrg          = errors.New("invalid org")
)

// EntryError reports a bad [[auth.tokens]] entry: Index is its position in
// the slice given to NewTokens and Field the TOML key at fault ("id",
// "sha256", "scopes", "orgs"), so Build can tag it with its key path (then
// placed at file:line:col).
type EntryError struct {
	Index int
	Field string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("auth.tokens[%d].%s: %v", e.Index, e.Field, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// NewTokens validates the entries and builds the table. Digests may be
// written in lower or upper case hex; two entries with the same digest (the
// same token twice) or the same id are refused, since a lookup must name
// exactly one identity.
func NewTokens(entries []TokenEntry) (*Tokens, error) {
	t := &Tokens{byDigest: make(map[[sha256.Size]byte]*Identity, len(entries))}
	idAt := make(map[string]int, len(entries))
	digestAt := make(map[[sha256.Size]byte]int, len(entries))
	for i, e := range entries {
		if e.ID == "" {
			return nil, &EntryError{i, "id", fmt.Errorf("%w: give every token an id (it names the token in logs and limits)", ErrEmptyID)}
		}
		if j, dup := idAt[e.ID]; dup {
			return nil, &EntryError{i, "id", fmt.Errorf("%w: %q is already used by auth.tokens[%d]; ids must be unique", ErrDuplicateID, e.ID, j)}
		}
		idAt[e.ID] = i

		var d [sha256.Size]byte
		if len(e.SHA256Hex) != hex.EncodedLen(sha256.Size) {
			return nil, &EntryError{i, "sha256", fmt.Errorf("%w: got %d characters, want the 64 hex digits printed by `cobaltgw hash-token`", ErrBadDigest, len(e.SHA256Hex))}
		}
		if _, err := hex.Decode(d[:], []byte(e.SHA256Hex)); err != nil {
			return nil, &EntryError{i, "sha256", fmt.Errorf("%w: %v; write the 64 hex digits printed by `cobaltgw hash-token`", ErrBadDigest, err)}
		}
		if j, dup := digestAt[d]; dup {
			return nil, &EntryError{i, "sha256", fmt.Errorf("%w: same digest as auth.tokens[%d] (id %q); give each token its own secret", ErrDuplicateDigest, j, entries[j].ID)}
		}
		digestAt[d] = i

		id := &Identity{ID: e.ID, Scopes: make(map[string]struct{}, len(e.Scopes)), digest: d}
		for _, s := range e.Scopes {
			if !ValidScope(s) {
				return nil, &EntryError{i, "scopes", fmt.Errorf("%w %q: a scope is 1 or more printable ASCII characters other than space, '\"' and '\\' (RFC 6749 §3.3)", ErrBadScope, s)}
			}
			id.Scopes[s] = struct{}{}
		}
		for _, o := range e.Orgs {
			if !validOrg(o) {
				return nil, &EntryError{i, "orgs", fmt.Errorf("%w %q: an org is the exact X-Org-Token value, 1 or more printable ASCII characters without spaces", ErrBadOrg, o)}
			}
		}
		if len(e.Orgs) > 0 {
			id.Orgs = append([]string(nil), e.Orgs...)
			for _, o := range e.Orgs {
				id.orgBytes = append(id.orgBytes, []byte(o))
			}
		}
		t.byDigest[d] = id
	}
	return t, nil
}

// Len returns the number of configured tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byDigest)
}

// Lookup returns the identity of a presented token, or false when the token
// is unknown (401 invalid_token). It does not allocate and keeps no
// reference to token.
//
// The map is keyed by the token's SHA-256, so the time a lookup takes depends
// on the digest, never on how many leading bytes of a real token an attacker
// guessed; the final ConstantTimeCompare makes the confirming comparison
// independent of the digest's content as well.
func (t *Tokens) Lookup(token []byte) (*Identity, bool) {
	if t == nil || len(token) == 0 {
		return nil, false
	}
	d := sha256.Sum256(token)
	return t.LookupDigest(&d)
}

// LookupDigest is Lookup for a token whose SHA-256 the caller already has
// (the same digest keys the JWT cache, so a request hashes its token once).
func (t *Tokens) LookupDigest(d *[sha256.Size]byte) (*Identity, bool) {
	if t == nil {
		return nil, false
	}
	id, ok := t.byDigest[*d]
	if !ok || subtle.ConstantTimeCompare(id.digest[:], d[:]) != 1 {
		return nil, false
	}
	return id, true
}

// HasScope reports whether the identity holds scope.
func (id *Identity) HasScope(scope string) bool {
	if id == nil {
		return false
	}
	_, ok := id.Scopes[scope]
	return ok
}

// MissingScopes appends to dst the scopes of required that the identity does
// not hold (each once, in the order of required) and returns the extended
// slice. All required scopes must be held: an empty result means authorized;
// otherwise the proxy answers 403 insufficient_scope and names them with
// AppendInsufficientScopeChallenge (RFC 6750 §3.1). With a dst of enough
// capacity it does not allocate. A nil identity holds nothing.
func (id *Identity) MissingScopes(required []string, dst []string) []string {
	start := len(dst)
next:
	for _, s := range required {
		if id.HasScope(s) {
			continue
		}
		for _, m := range dst[start:] {
			if m == s {
				continue next
			}
		}
		dst = append(dst, s)
	}
	return dst
}

// ForbiddenOrgDetail is a safe detail for the 403 forbidden answer when
// AllowsOrg refuses: it names the rule, not the organisations the token may
// act for, nor anything about other tokens.
const ForbiddenOrgDetail = "This token may not act for the organization named in X-Org-Token"

// AllowsOrg reports whether the identity may act for the organisation named
// by the request's X-Org-Token field lines (with fasthttp:
// RequestHeader.PeekAll("X-Org-Token")). An identity with no Orgs may act for
// any (the header is then not looked at). Otherwise exactly one field line
// whose value, stripped of surrounding whitespace (RFC 9110 §5.5), equals one
// of Orgs is required; none, several or another value → false (403
// forbidden). A nil identity is refused. It does not allocate.
func (id *Identity) AllowsOrg(values [][]byte) bool {
	if id == nil {
		return false
	}
	if len(id.Orgs) == 0 {
		return !id.orgsRestricted
	}
	if len(values) != 1 {
		return false
	}
	v := httpsyntax.TrimOWS(values[0])
	// X-Org-Token values may be secrets of their own: compare with every
	// allowed value in constant time per value, without stopping early, so
	// the answer time does not tell which prefix matched.
	match := 0
	for _, o := range id.orgBytes {
		match |= subtle.ConstantTimeCompare(v, o)
	}
	return match == 1
}

// ValidScope reports whether s is an RFC 6749 §3.3 scope-token
// (1*( %x21 / %x23-5B / %x5D-7E )), the form a scope must have to be listed
// in the WWW-Authenticate scope attribute (RFC 6750 §3). The config package
// should check route scopes with it too.
func ValidScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validOrg accepts what a trimmed X-Org-Token field value can equal and be
// compared exactly: 1 or more visible ASCII characters (VCHAR, RFC 5234).
func validOrg(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
