package auth

import (
	"errors"
	"fmt"

	"github.com/cobaltgw/cobaltgw/config"
)

// Setup is [auth] built: the challenge's realm, the static token table
// and the JWT issuers, checked (their jwks_file read). The JWT verifier
// itself (NewJWT) fetches key sets, so the gateway makes it from Issuers
// only when the config is put in service.
type Setup struct {
	Realm   string
	Tokens  *Tokens
	Issuers []JWTIssuer
}

// Build checks [auth] and builds its parts. It returns every error, each
// a *config.FieldError on the key at fault ("auth.tokens[2].sha256",
// "auth.jwt[0].algorithms"), and warnings (keys of a local JWK Set that
// were skipped).
func Build(sec config.Auth) (*Setup, []string, error) {
	var errs []error
	if sec.Realm == "" {
		errs = append(errs, config.FieldErrorf("auth.realm", "must not be empty; it names the protection space in WWW-Authenticate"))
	} else if !ValidRealm(sec.Realm) {
		errs = append(errs, config.FieldErrorf("auth.realm", "%q cannot be sent in a WWW-Authenticate challenge; use printable characters", sec.Realm))
	}
	entries := make([]TokenEntry, len(sec.Tokens))
	for i, t := range sec.Tokens {
		entries[i] = TokenEntry{ID: t.ID, SHA256Hex: t.SHA256, Scopes: t.Scopes, Orgs: t.Orgs}
	}
	tokens, err := NewTokens(entries)
	var ee *EntryError
	switch {
	case errors.As(err, &ee):
		hint := ""
		if ee.Field == "sha256" {
			hint = "; produce the digest with: printf %s \"$TOKEN\" | cobaltgw hash-token"
		}
		errs = append(errs, config.FieldErrorf(fmt.Sprintf("auth.tokens[%d].%s", ee.Index, ee.Field), "%v%s", ee.Err, hint))
	case err != nil:
		errs = append(errs, config.Field("auth.tokens", err))
	}
	issuers := jwtIssuers(sec.JWT)
	warns, jerrs := ValidateJWT(issuers)
	for _, err := range jerrs {
		var je *JWTError
		if errors.As(err, &je) {
			errs = append(errs, config.Field(fmt.Sprintf("auth.jwt[%d].%s", je.Index, je.Field), je.Err))
		} else {
			errs = append(errs, config.Field("auth.jwt", err))
		}
	}
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	return &Setup{Realm: sec.Realm, Tokens: tokens, Issuers: issuers}, warns, nil
}

// jwtIssuers returns [[auth.jwt]] as this package's plain values.
func jwtIssuers(sec []config.JWT) []JWTIssuer {
	out := make([]JWTIssuer, 0, len(sec))
	for _, j := range sec {
		out = append(out, JWTIssuer{
			Issuer: j.Issuer, JWKSURL: j.JWKSURL, JWKSFile: j.JWKSFile,
			Audiences: j.Audiences, Algorithms: j.Algorithms, Leeway: j.Leeway.D(),
			ScopeClaim: j.ScopeClaim, SubjectClaim: j.SubjectClaim, OrgClaim: j.OrgClaim,
			JWKSRefresh: j.JWKSRefresh.D(),
		})
	}
	return out
}

// CheckScopes checks the scopes of the entry at path (a route): each a
// scope token of RFC 6749 §3.3.
func CheckScopes(path string, scopes []string) error {
	var errs []error
	for _, sc := range scopes {
		if !ValidScope(sc) {
			errs = append(errs, config.FieldErrorf(path+".scopes", "%q is not a scope (RFC 6749 §3.3: printable ASCII without spaces, quotes or backslashes)", sc))
		}
	}
	return errors.Join(errs...)
}
