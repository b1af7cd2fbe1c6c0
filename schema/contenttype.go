package schema

import "github.com/cobaltgw/cobaltgw/internal/httpsyntax"

// IsJSONContentType reports whether a Content-Type field value names JSON:
// application/json or a structured syntax suffix type application/<x>+json
// (RFC 6839 §3.1). Type and subtype are case-insensitive (RFC 9110 §8.3.1);
// parameters are ignored (JSON has no charset parameter, RFC 8259 §11).
// A route with a body schema answers 400 to any other type, since the body
// could not be checked. It does not allocate.
func IsJSONContentType(ct []byte) bool {
	// media-type = type "/" subtype parameters; cut the parameters and the
	// OWS around the type (RFC 9110 §5.5, §5.6.6).
	for i, c := range ct {
		if c == ';' {
			ct = ct[:i]
			break
		}
	}
	ct = httpsyntax.TrimOWS(ct)
	const app = "application/"
	if len(ct) <= len(app) || !httpsyntax.EqualFoldASCII(ct[:len(app)], app) {
		return false
	}
	sub := ct[len(app):]
	for _, c := range sub {
		if !httpsyntax.IsTchar(c) {
			return false // "application/js on", "application/json/x"
		}
	}
	if httpsyntax.EqualFoldASCII(sub, "json") {
		return true
	}
	const suffix = "+json"
	// A suffix type needs a non-empty base: "application/+json" is not one.
	return len(sub) > len(suffix) && httpsyntax.EqualFoldASCII(sub[len(sub)-len(suffix):], suffix)
}
