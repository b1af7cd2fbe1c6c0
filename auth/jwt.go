package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT access tokens ([[auth.jwt]], README.md "JWT access tokens"): a Bearer
// token in JWS compact form (RFC 7515 §7.1) is verified against the issuer
// its "iss" names (RFC 7519 §4.1.1): signature with the key of that
// issuer's JWK Set chosen by "kid" (RFC 7515 §4.1.4), "alg" in the issuer's
// list (never "none", never an HMAC), "exp" / "nbf" / "iat" within leeway
// (RFC 7519 §4.1.4-6), "aud" when audiences are set (§4.1.3). The JOSE
// work is golang-jwt/jwt v5 and the JWK parsing MicahParks/jwkset; the
// choice and its figures are in docs/jwt.md.

// JWTIssuer is one [[auth.jwt]] entry as plain values (durations decoded).
type JWTIssuer struct {
	Issuer       string
	JWKSURL      string
	JWKSFile     string // resolved against the config's folder
	Audiences    []string
	Algorithms   []string
	Leeway       time.Duration
	ScopeClaim   string
	SubjectClaim string
	OrgClaim     string
	JWKSRefresh  time.Duration
}

// JWTError reports a bad [[auth.jwt]] entry: Index is its position and
// Field the TOML key at fault, so Build can tag it with its key path (then
// placed at file:line:col).
type JWTError struct {
	Index int
	Field string
	Err   error
}

func (e *JWTError) Error() string { return fmt.Sprintf("auth.jwt[%d].%s: %v", e.Index, e.Field, e.Err) }

func (e *JWTError) Unwrap() error { return e.Err }

// asymmetricAlgs are the JWS algorithms accepted in algorithms (RFC 7518
// §3.1 and RFC 8037 §3.1): signatures that a public key verifies.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// MinJWKSRefresh is the shortest jwks_refresh accepted.
const MinJWKSRefresh = time.Second

// ValidateJWT checks every [[auth.jwt]] entry and reads each jwks_file, so
// `cobaltgw validate` and a reload catch a bad issuer before it serves.
// It returns every error found (each a *JWTError) and warnings (keys of a
// local set that were skipped or fit none of the algorithms).
func ValidateJWT(issuers []JWTIssuer) (warnings []string, errs []error) {
	bad := func(i int, field, format string, args ...any) {
		errs = append(errs, &JWTError{i, field, fmt.Errorf(format, args...)})
	}
	seen := map[string]int{}
	for i, is := range issuers {
		switch j, dup := seen[is.Issuer]; {
		case is.Issuer == "":
			bad(i, "issuer", "required: write the exact \"iss\" value of the tokens, e.g. \"https://idp.example.com/realms/main\"")
		case dup:
			bad(i, "issuer", "%q is already configured as auth.jwt[%d]; one entry per issuer", is.Issuer, j)
		default:
			seen[is.Issuer] = i
		}
		switch {
		case is.JWKSURL == "" && is.JWKSFile == "":
			bad(i, "jwks_url", "one of jwks_url (the issuer's JWK Set over HTTPS) or jwks_file (a local JWK Set) is required")
		case is.JWKSURL != "" && is.JWKSFile != "":
			bad(i, "jwks_file", "set jwks_url or jwks_file, not both")
		case is.JWKSURL != "":
			if err := checkJWKSURL(is.JWKSURL); err != nil {
				bad(i, "jwks_url", "%v", err)
			}
		default:
			data, err := os.ReadFile(is.JWKSFile)
			if err != nil {
				bad(i, "jwks_file", "%v", err)
				break
			}
			ks, err := parseJWKS(data)
			if err != nil {
				bad(i, "jwks_file", "%s: %v", is.JWKSFile, err)
				break
			}
			for _, s := range ks.skipped {
				warnings = append(warnings, fmt.Sprintf("auth.jwt[%d].jwks_file: %s skipped", i, s))
			}
			if !ks.fitsAny(is.Algorithms) {
				warnings = append(warnings, fmt.Sprintf("auth.jwt[%d].jwks_file: no key of %s fits algorithms %v", i, is.JWKSFile, is.Algorithms))
			}
		}
		if len(is.Algorithms) == 0 {
			bad(i, "algorithms", "must list at least one of %s", strings.Join(asymmetricAlgs, ", "))
		}
		for _, a := range is.Algorithms {
			switch {
			case strings.EqualFold(a, "none"):
				bad(i, "algorithms", "\"none\" is refused: an unsigned token proves nothing; list signature algorithms such as \"RS256\"")
			case len(a) >= 2 && strings.EqualFold(a[:2], "HS"):
				bad(i, "algorithms", "%q is refused: an HMAC needs a shared secret, and a JWK Set publishes public keys (a token \"signed\" with one is a forgery); use RS256, ES256 or EdDSA", a)
			case !slices.Contains(asymmetricAlgs, a):
				bad(i, "algorithms", "unknown algorithm %q; write some of %s", a, strings.Join(asymmetricAlgs, ", "))
			}
		}
		for _, a := range is.Audiences {
			if a == "" {
				bad(i, "audiences", "an empty audience matches nothing; remove it")
			}
		}
		if is.Leeway < 0 {
			bad(i, "leeway", "must not be negative; write a duration such as \"30s\"")
		}
		if is.JWKSRefresh < MinJWKSRefresh {
			bad(i, "jwks_refresh", "must be at least \"1s\"; write a duration such as \"5m\"")
		}
		if is.ScopeClaim == "" {
			bad(i, "scope_claim", "must not be empty (default \"scope\")")
		}
		if is.SubjectClaim == "" {
			bad(i, "subject_claim", "must not be empty (default \"sub\")")
		}
	}
	return warnings, errs
}

// checkJWKSURL accepts https URLs, and plain http only to a loopback
// address (an IdP sidecar on the same host, or a test): keys fetched over
// plain HTTP from elsewhere could be swapped by anyone on the path.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL; write e.g. \"https://idp.example.com/.well-known/jwks.json\"", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: keys must be fetched over https (plain http is accepted only for a loopback address)", raw)
	}
	return fmt.Errorf("%q: scheme must be https", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (ks *keySet) fitsAny(algs []string) bool {
	for i := range ks.keys {
		for _, a := range algs {
			if slices.Contains(asymmetricAlgs, a) && ks.keys[i].fits(a) {
				return true
			}
		}
	}
	return false
}

// Failure says why a JWT was refused. The zero value is JWTOK.
type Failure uint8

const (
	JWTOK Failure = iota
	// JWTUnavailable: the issuer has never had a good JWK Set: 503
	// auth_unavailable with Retry-After. Every other failure is 401
	// invalid_token with Description as error_description.
	JWTUnavailable
	JWTMalformed
	JWTUnknownIssuer
	JWTUnknownKey
	JWTAlgNotAllowed
	JWTBadSignature
	JWTExpired
	JWTNotYetValid
	JWTWrongAudience
)

// Description is the error_description of the 401 (RFC 6750 §3): the
// failed check in a few words, nothing of the token.
func (f Failure) Description() string {
	switch f {
	case JWTMalformed:
		return "malformed"
	case JWTUnknownIssuer:
		return "unknown issuer"
	case JWTUnknownKey:
		return "unknown key"
	case JWTAlgNotAllowed:
		return "algorithm not allowed"
	case JWTBadSignature:
		return "bad signature"
	case JWTExpired:
		return "expired"
	case JWTNotYetValid:
		return "not yet valid"
	case JWTWrongAudience:
		return "wrong audience"
	case JWTUnavailable:
		return "keys unavailable"
	}
	return ""
}

// Detail is the problem body's detail for the failure: a safe sentence.
func (f Failure) Detail() string {
	switch f {
	case JWTMalformed:
		return "The access token is not a well-formed JWT with the required claims"
	case JWTUnknownIssuer:
		return "The access token's issuer is not trusted here"
	case JWTUnknownKey:
		return "The access token is signed with a key its issuer does not publish"
	case JWTAlgNotAllowed:
		return "The access token's signature algorithm is not allowed"
	case JWTBadSignature:
		return "The access token's signature does not verify"
	case JWTExpired:
		return "The access token has expired"
	case JWTNotYetValid:
		return "The access token is not valid yet"
	case JWTWrongAudience:
		return "The access token is meant for another audience"
	case JWTUnavailable:
		return "The identity provider's keys could not be loaded yet; try again shortly"
	}
	return ""
}

// IsJWS reports whether a Bearer token has the shape of a JWS compact
// serialization (RFC 7515 §7.1: three base64url parts joined by dots); only
// such tokens are tried as JWTs.
func IsJWS(token []byte) bool {
	dots := 0
	for _, c := range token {
		if c == '.' {
			dots++
		}
	}
	return dots == 2
}

// issuer is one [[auth.jwt]] entry, compiled.
type issuer struct {
	cfg       JWTIssuer
	keys      *keySource
	validator *jwt.Validator
}

// JWT verifies access tokens of the configured issuers. Build one per
// config with NewJWT; Close it when the config is retired. A nil *JWT
// knows no issuer.
type JWT struct {
	issuers map[string]*issuer
	order   []*issuer
	cache   *TokenCache
	gen     uint64
	parser  *jwt.Parser
	now     func() time.Time
}

// JWTOptions are what NewJWT needs besides the issuers.
type JWTOptions struct {
	// Cache holds verified tokens across requests (and reloads); nil
	// verifies every time.
	Cache *TokenCache
	// Client fetches jwks_url; nil uses one with system roots (so
	// SSL_CERT_FILE and SSL_CERT_DIR apply) and a 5s timeout.
	Client *http.Client
	// Previous is the running verifier: its key sources for the same
	// jwks_url or jwks_file are kept (with their sets) instead of fetched
	// anew; a jwks_file is re-read.
	Previous *JWT
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Log receives fetch failures of new sources; nil = discard.
	Log *slog.Logger
	// FirstFetchWait bounds how long NewJWT waits for the first fetch of
	// new sources (0 = 3s), so a gateway that starts while its IdP is up
	// serves tokens at once.
	FirstFetchWait time.Duration
}

var jwtGen atomic.Uint64

// NewJWT builds the verifier for issuers (already checked by
// ValidateJWT). New key sources start fetching at once; NewJWT waits for
// their first attempt up to FirstFetchWait, but a failure is not an error:
// the issuer answers 503 auth_unavailable until a fetch succeeds.
func NewJWT(issuers []JWTIssuer, o JWTOptions) (*JWT, error) {
	if len(issuers) == 0 {
		return nil, nil
	}
	if _, errs := ValidateJWT(issuers); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: fetchTimeout}
	}
	if o.FirstFetchWait == 0 {
		o.FirstFetchWait = 3 * time.Second
	}
	j := &JWT{issuers: map[string]*issuer{}, cache: o.Cache, gen: jwtGen.Add(1), now: o.Now,
		// Claims are validated per issuer below, with its leeway and
		// audiences; the parser only decodes (canonical base64url only, so one
		// token has one spelling) and checks the signature.
		parser: jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())}
	var fresh []*keySource
	for _, c := range issuers {
		c.Audiences = slices.Clone(c.Audiences)
		c.Algorithms = slices.Clone(c.Algorithms)
		var ks *keySource
		if o.Previous != nil {
			for _, p := range o.Previous.order {
				if p.keys.url == c.JWKSURL && p.keys.file == c.JWKSFile {
					ks = p.keys
					ks.acquire()
					ks.refresh.Store(int64(c.JWKSRefresh))
					if ks.file != "" {
						// A reload re-reads a local set (the operator may
						// have just replaced it); a failure keeps the old.
						_ = ks.fetch()
					}
					break
				}
			}
		}
		if ks == nil {
			ks = newKeySource(c.JWKSURL, c.JWKSFile, c.JWKSRefresh, o.Client, o.Now)
			fresh = append(fresh, ks)
		}
		opts := []jwt.ParserOption{
			jwt.WithLeeway(c.Leeway), jwt.WithIssuedAt(), jwt.WithExpirationRequired(),
			jwt.WithIssuer(c.Issuer), jwt.WithTimeFunc(o.Now),
		}
		if len(c.Audiences) > 0 {
			opts = append(opts, jwt.WithAudience(c.Audiences...))
		}
		is := &issuer{cfg: c, keys: ks, validator: jwt.NewValidator(opts...)}
		j.issuers[c.Issuer] = is
		j.order = append(j.order, is)
	}
	deadline := time.Now().Add(o.FirstFetchWait)
	for _, ks := range fresh {
		ks.waitFirst(time.Until(deadline))
		if err := ks.unavailable(); err != nil && o.Log != nil {
			o.Log.Warn("JWK Set not loaded; its issuer's tokens get 503 auth_unavailable until it is", "error", err.Error())
		}
	}
	return j, nil
}

// Close releases the verifier's key sources (those a newer verifier took
// over keep running).
func (j *JWT) Close() {
	if j == nil {
		return
	}
	for _, is := range j.order {
		is.keys.release()
	}
}

// Ready returns nil when every issuer has a JWK Set, else which have none
// and why (for /readyz).
func (j *JWT) Ready() error {
	if j == nil {
		return nil
	}
	var errs []error
	for _, is := range j.order {
		if err := is.keys.unavailable(); err != nil {
			errs = append(errs, fmt.Errorf("issuer %q has no JWK Set: %w", is.cfg.Issuer, err))
		}
	}
	return errors.Join(errs...)
}

// Cached returns the identity of a token verified before and not yet
// expired, without verifying anything; digest is the token's SHA-256. It
// does not allocate.
func (j *JWT) Cached(digest *[sha256.Size]byte) (*Identity, bool) {
	if j == nil || j.cache == nil {
		return nil, false
	}
	return j.cache.get(digest, j.gen, j.now())
}

// Verify checks token (whose SHA-256 is digest) and returns its identity,
// or why it is refused; retryAfter is set with JWTUnavailable. A verified
// token is cached until its exp (plus leeway), so the next request with
// it costs a lookup.
func (j *JWT) Verify(token []byte, digest *[sha256.Size]byte) (id *Identity, f Failure, retryAfter int) {
	if j == nil {
		return nil, JWTUnknownIssuer, 0
	}
	if id, ok := j.Cached(digest); ok {
		return id, JWTOK, 0
	}
	v := verification{j: j}
	tok, err := j.parser.Parse(string(token), v.keyfunc)
	if err != nil {
		if v.fail != JWTOK {
			if v.fail == JWTUnavailable {
				return nil, v.fail, v.is.keys.retryAfter()
			}
			return nil, v.fail, 0
		}
		return nil, classify(err), 0
	}
	claims := tok.Claims.(jwt.MapClaims)
	if err := v.is.validator.Validate(claims); err != nil {
		f := classify(err)
		if _, hasExp := claims["exp"]; f == JWTMalformed && hasExp && errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			f = JWTWrongAudience // the missing claim is aud (audiences are set)
		}
		return nil, f, 0
	}
	id, exp, ok := v.is.identity(claims)
	if !ok {
		return nil, JWTMalformed, 0
	}
	if j.cache != nil {
		j.cache.set(digest, id, j.gen, exp.Add(v.is.cfg.Leeway), j.now())
	}
	return id, JWTOK, 0
}

// classify maps golang-jwt's errors to a Failure. Validation errors are
// checked in the order a client can act on them.
func classify(err error) Failure {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return JWTMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		return JWTExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return JWTNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return JWTWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return JWTUnknownIssuer
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return JWTBadSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// "signing method (alg) is unavailable": an alg golang-jwt does
		// not know at all.
		return JWTAlgNotAllowed
	}
	return JWTMalformed // a required claim missing, a claim of the wrong type
}

// verification is the state of one Verify: the issuer the keyfunc chose
// and, when the keyfunc refused, why.
type verification struct {
	j    *JWT
	is   *issuer
	fail Failure
}

// keyfunc picks the verification key: the issuer named by "iss", "alg" in
// its list, the key named by "kid" (every key that fits alg when the token
// names none). An unknown kid refetches the set (bounded) once.
func (v *verification) keyfunc(t *jwt.Token) (any, error) {
	claims, _ := t.Claims.(jwt.MapClaims)
	iss, _ := claims["iss"].(string)
	is := v.j.issuers[iss]
	if is == nil {
		return v.refuse(JWTUnknownIssuer)
	}
	v.is = is
	alg := t.Method.Alg()
	if !slices.Contains(is.cfg.Algorithms, alg) {
		return v.refuse(JWTAlgNotAllowed)
	}
	ks := is.keys.set.Load()
	if ks == nil {
		return v.refuse(JWTUnavailable)
	}
	kid, hasKid := t.Header["kid"].(string)
	if !hasKid {
		var set jwt.VerificationKeySet
		for i := range ks.keys {
			if ks.keys[i].fits(alg) {
				set.Keys = append(set.Keys, ks.keys[i].key)
			}
		}
		if len(set.Keys) == 0 {
			return v.refuse(JWTUnknownKey)
		}
		return set, nil
	}
	k := ks.byKid[kid]
	if k == nil && is.keys.refetchForKid() {
		if ks = is.keys.set.Load(); ks != nil {
			k = ks.byKid[kid]
		}
	}
	if k == nil {
		return v.refuse(JWTUnknownKey)
	}
	if !k.fits(alg) {
		// The JWK's own alg or key type rules the token's alg out
		// (RFC 7517 §4.4): an RS256 token cannot be checked with an EC key.
		return v.refuse(JWTAlgNotAllowed)
	}
	return k.key, nil
}

var errRefused = errors.New("refused")

func (v *verification) refuse(f Failure) (any, error) {
	v.fail = f
	return nil, errRefused
}

// identity turns verified claims into an Identity: subject_claim is the
// id (required, a non-empty string), scope_claim and "scp" the scopes
// (space-separated string or array of strings, RFC 8693 §4.2 / RFC 9068
// §2.2.3), org_claim the allowed X-Org-Token values.
func (is *issuer) identity(c jwt.MapClaims) (*Identity, time.Time, bool) {
	sub, _ := c[is.cfg.SubjectClaim].(string)
	if sub == "" {
		return nil, time.Time{}, false
	}
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, time.Time{}, false
	}
	id := &Identity{ID: sub, Scopes: map[string]struct{}{}}
	addStrings(c[is.cfg.ScopeClaim], func(s string) {
		if ValidScope(s) {
			id.Scopes[s] = struct{}{}
		}
	})
	if is.cfg.ScopeClaim != "scp" {
		addStrings(c["scp"], func(s string) {
			if ValidScope(s) {
				id.Scopes[s] = struct{}{}
			}
		})
	}
	if is.cfg.OrgClaim != "" {
		// With org_claim set, the token may act only for the orgs it
		// names: a token without the claim may act for none.
		id.orgsRestricted = true
		addStrings(c[is.cfg.OrgClaim], func(s string) {
			if validOrg(s) && !slices.Contains(id.Orgs, s) {
				id.Orgs = append(id.Orgs, s)
				id.orgBytes = append(id.orgBytes, []byte(s))
			}
		})
	}
	return id, exp.Time, true
}

// addStrings calls add for each value of a claim that is a space-separated
// string or an array of strings.
func addStrings(v any, add func(string)) {
	switch v := v.(type) {
	case string:
		for _, s := range strings.Fields(v) {
			add(s)
		}
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
}
