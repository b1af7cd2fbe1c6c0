package auth

// The WWW-Authenticate values of RFC 6750 §3. Each Append… function appends
// one challenge to dst and returns the extended slice; with a reused buffer
// (or a []byte of enough capacity) it does not allocate. The realm is config
// text: it is written as an RFC 9110 §5.6.4 quoted-string, so '"' and '\'
// are escaped and control characters, which a quoted-string cannot carry
// (and which could split the header), are dropped. Build refuses such a
// realm with ValidRealm rather than rely on the dropping.

// AppendChallenge appends `Bearer realm="<realm>"`, the challenge of a 401
// for a request that sent no token (RFC 6750 §3.1: no error code then).
func AppendChallenge(dst []byte, realm string) []byte {
	dst = append(dst, `Bearer realm=`...)
	return appendQuoted(dst, realm)
}

// AppendInvalidTokenChallenge appends
// `Bearer realm="<realm>", error="invalid_token"`, the challenge of a 401
// for a token that is of another scheme, empty, malformed or unknown.
func AppendInvalidTokenChallenge(dst []byte, realm string) []byte {
	dst = AppendChallenge(dst, realm)
	return append(dst, `, error="invalid_token"`...)
}

// AppendInvalidTokenDescChallenge appends
// `Bearer realm="<realm>", error="invalid_token", error_description="<desc>"`,
// the challenge of a 401 for a JWT that failed a check (RFC 6750 §3:
// error_description is human-readable; here a few words from
// Failure.Description, never anything of the token).
func AppendInvalidTokenDescChallenge(dst []byte, realm, desc string) []byte {
	dst = AppendInvalidTokenChallenge(dst, realm)
	dst = append(dst, `, error_description=`...)
	return appendQuoted(dst, desc)
}

// AppendInsufficientScopeChallenge appends
// `Bearer realm="<realm>", error="insufficient_scope", scope="<missing>"`,
// the challenge of a 403 insufficient_scope; missing (from
// Identity.MissingScopes) is joined with single spaces, as RFC 6750 §3
// writes the scope attribute.
func AppendInsufficientScopeChallenge(dst []byte, realm string, missing []string) []byte {
	dst = AppendChallenge(dst, realm)
	dst = append(dst, `, error="insufficient_scope", scope="`...)
	for i, s := range missing {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendQuotedContent(dst, s)
	}
	return append(dst, '"')
}

// ValidRealm reports whether realm can be sent as it is: no control
// characters other than HTAB (RFC 9110 §5.6.4 qdtext and quoted-pair admit
// HTAB, SP, VCHAR and obs-text). '"' and '\' are fine; they are escaped.
func ValidRealm(realm string) bool {
	for i := 0; i < len(realm); i++ {
		if isCTL(realm[i]) {
			return false
		}
	}
	return true
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendQuotedContent(dst, s)
	return append(dst, '"')
}

// appendQuotedContent writes s as the inside of an RFC 9110 §5.6.4
// quoted-string: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) for '"'
// and '\', qdtext for the rest, control characters dropped.
func appendQuotedContent(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case isCTL(c):
			// not representable; dropping it keeps CR/LF out of the header
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// isCTL reports the bytes neither qdtext nor quoted-pair admits: CTLs
// (RFC 5234) other than HTAB.
func isCTL(c byte) bool {
	return (c < 0x20 && c != '\t') || c == 0x7f
}
