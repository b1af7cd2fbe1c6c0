package proxy

import (
	"crypto/sha256"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/router"
	"github.com/cobaltgw/cobaltgw/schema"
	"github.com/cobaltgw/cobaltgw/tlsconf"
)

var (
	hdrConsumerID = []byte("X-Consumer-Id")
)

// checkClientCert is the first part of stage 7: with tls_client_auth =
// "required", a request on a connection that presented no certificate gets
// 401 client_certificate_required. (An untrusted certificate has already
// failed the handshake.) A verified certificate's subject is kept for
// client_cert rate limits and X-Client-Cert-Subject.
func (r *request) checkClientCert() bool {
	if !r.ctx.IsTLS() {
		return !r.rt.certRequired || r.refuseNoCert()
	}
	if r.clientCertSubject() == "" && r.rt.certRequired {
		return r.refuseNoCert()
	}
	return true
}

// clientCertSubject reads the verified client certificate once.
func (r *request) clientCertSubject() string {
	if !r.certRead {
		r.certRead = true
		r.certSubject = tlsconf.Subject(r.ctx.TLSConnectionState())
	}
	return r.certSubject
}

func (r *request) refuseNoCert() bool {
	var buf [256]byte
	r.ctx.Response.Header.SetBytesKV(hdrWWWAuth, auth.AppendChallenge(buf[:0], r.rt.cfg.Auth.Realm))
	r.fail(contract.StatusUnauthorized, contract.CodeClientCertificateRequired, "This endpoint requires a client certificate", 0)
	return false
}

// bearer reads the Authorization header and looks its token up without
// verifying anything: a static token, or a JWT verified before and still
// cached. It returns the identity (nil when unknown or not a Bearer token)
// and how the header parsed. Token-keyed limits on routes without auth
// use it, so an unauthenticated route never pays for a signature check.
func (r *request) bearer() (*auth.Identity, auth.ParseResult) {
	id, res, _, _ := r.authenticate(false)
	return id, res
}

// authenticate looks the Bearer token up: the static tokens first (by
// SHA-256), then, for a token shaped as a JWS, the [[auth.jwt]] issuers
// (cached by the same digest). With verify false only the cache is asked.
// A JWT that fails gets f, the failed check; retryAfter goes with
// auth.JWTUnavailable (503 auth_unavailable).
func (r *request) authenticate(verify bool) (id *auth.Identity, res auth.ParseResult, f auth.Failure, retryAfter int) {
	tok, res := auth.ParseAuthorization(r.ctx.Request.Header.PeekAll("Authorization"))
	if res != auth.ParseOK {
		return nil, res, auth.JWTOK, 0
	}
	d := sha256.Sum256(tok)
	if id, ok := r.rt.tokens.LookupDigest(&d); ok {
		return id, res, auth.JWTOK, 0
	}
	if r.rt.jwt == nil || !auth.IsJWS(tok) {
		return nil, res, auth.JWTOK, 0
	}
	if !verify {
		id, _ := r.rt.jwt.Cached(&d)
		return id, res, auth.JWTOK, 0
	}
	id, f, retryAfter = r.rt.jwt.Verify(tok, &d)
	return id, res, f, retryAfter
}

// checkAuth is stage 7: authentication (401) and authorization (403) on a
// route with auth = true (RFC 6750 §3, RFC 9110 §11.6.2). Every 401 carries
// a Bearer challenge; error="invalid_token" when a credential was sent.
// Details never say anything about other tokens.
func (r *request) checkAuth() bool {
	rt := r.route
	if !rt.cfg.Auth {
		return true
	}
	h := &r.ctx.Request.Header
	realm := r.rt.cfg.Auth.Realm
	var buf [256]byte
	id, res, jwtFail, retryAfter := r.authenticate(true)
	switch res {
	case auth.ParseMissing:
		h := &r.ctx.Response.Header
		h.SetBytesKV(hdrWWWAuth, auth.AppendChallenge(buf[:0], realm))
		r.fail(contract.StatusUnauthorized, contract.CodeMissingToken, "This endpoint needs an API token: send Authorization: Bearer <token>", 0)
		return false
	case auth.ParseMalformed:
		r.fail(contract.StatusBadRequest, contract.CodeMalformedRequest, "The request has more than one Authorization header", 0)
		return false
	}
	switch {
	case jwtFail == auth.JWTUnavailable:
		r.fail(contract.StatusServiceUnavailable, contract.CodeAuthUnavailable, jwtFail.Detail(), retryAfter)
		return false
	case jwtFail != auth.JWTOK:
		// A JWT that failed a check: the challenge names the check
		// (error_description), never the token.
		r.ctx.Response.Header.SetBytesKV(hdrWWWAuth, auth.AppendInvalidTokenDescChallenge(buf[:0], realm, jwtFail.Description()))
		r.fail(contract.StatusUnauthorized, contract.CodeInvalidToken, jwtFail.Detail(), 0)
		return false
	case id == nil:
		r.ctx.Response.Header.SetBytesKV(hdrWWWAuth, auth.AppendInvalidTokenChallenge(buf[:0], realm))
		r.fail(contract.StatusUnauthorized, contract.CodeInvalidToken, "", 0)
		return false
	}
	var missingBuf [8]string
	if missing := id.MissingScopes(rt.cfg.Scopes, missingBuf[:0]); len(missing) > 0 {
		r.ctx.Response.Header.SetBytesKV(hdrWWWAuth, auth.AppendInsufficientScopeChallenge(buf[:0], realm, missing))
		r.fail(contract.StatusForbidden, contract.CodeInsufficientScope, "Your API token lacks a scope this endpoint requires", 0)
		return false
	}
	if !id.AllowsOrg(h.PeekAll("X-Org-Token")) {
		r.fail(contract.StatusForbidden, contract.CodeForbidden, auth.ForbiddenOrgDetail, 0)
		return false
	}
	r.identity = id
	return true
}

// checkBody is stage 9 on a route with body_schema: the body must be JSON
// (400 malformed_json) that the schema accepts (422 schema_violation, with
// up to 20 {pointer, message} items). Routes without a schema never decode
// the body. A bodiless GET, HEAD, DELETE or OPTIONS is not validated; any
// request that carries content must declare a JSON type, and a compressed
// body, which cannot be validated, is refused rather than forwarded
// unchecked.
func (r *request) checkBody() bool {
	var pv []schema.Violation
	if ps := r.route.params; ps != nil {
		var err error
		// The source holds a copy of the path, never r: a pointer to r in
		// an interface would move every request's state to the heap.
		src := paramSource{path: append([]byte(nil), r.normPath()...), pattern: r.route.pattern, ctx: r.ctx}
		if pv, err = ps.Check(src); err != nil {
			r.g.log.Error("parameter validation failed", "route", r.route.name, "error", err.Error())
			r.fail(contract.StatusInternalServerError, contract.CodeInternalError, "", 0)
			return false
		}
	}
	s := r.route.schema
	if s == nil {
		return r.paramViolations(pv)
	}
	if !r.readWholeBody() {
		return false
	}
	req := &r.ctx.Request
	body := req.Body()
	ct := req.Header.ContentType()
	if r.route.source != "" && len(body) == 0 && len(ct) == 0 {
		// An imported operation: a body the document does not require
		// may be left out; a required one is a violation (422).
		if r.route.bodyRequired {
			pv = append(pv, schema.Violation{Pointer: "", Message: "the request body is required"})
		}
		return r.paramViolations(pv)
	}
	if len(body) == 0 && len(ct) == 0 && !carriesContent(req.Header.Method()) {
		return r.paramViolations(pv)
	}
	if !schema.IsJSONContentType(ct) {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedJSON, "This endpoint takes a JSON body: send Content-Type: application/json", 0)
		return false
	}
	if ce := req.Header.ContentEncoding(); len(ce) > 0 && string(ce) != "identity" {
		r.fail(contract.StatusBadRequest, contract.CodeMalformedJSON, "A compressed body cannot be validated; send it uncompressed", 0)
		return false
	}
	violations, err := s.Validate(body)
	var se *schema.SyntaxError
	switch {
	case errors.As(err, &se):
		r.fail(contract.StatusBadRequest, contract.CodeMalformedJSON, se.Detail(), 0)
		return false
	case err != nil:
		r.g.log.Error("schema validation failed", "route", r.route.name, "error", err.Error())
		r.fail(contract.StatusInternalServerError, contract.CodeInternalError, "", 0)
		return false
	case len(violations) > 0:
		if len(pv) > 0 {
			violations = append(pv, violations...)
			if len(violations) > schema.MaxViolations {
				violations = violations[:schema.MaxViolations]
			}
		}
		r.failExtra(contract.StatusUnprocessableEntity, contract.CodeSchemaViolation, "The request body does not match the schema of this endpoint", 0, appendViolations(nil, violations))
		return false
	}
	return r.paramViolations(pv)
}

// paramViolations answers 422 for violations of declared parameters (and
// a missing required body) of a route imported from OpenAPI.
func (r *request) paramViolations(vs []schema.Violation) bool {
	if len(vs) == 0 {
		return true
	}
	r.failExtra(contract.StatusUnprocessableEntity, contract.CodeSchemaViolation, "The request does not match the OpenAPI description of this endpoint", 0, appendViolations(nil, vs))
	return false
}

// paramSource reads a request's parameters for openapi.Params.
type paramSource struct {
	path    []byte
	pattern *router.Pattern
	ctx     *fasthttp.RequestCtx
}

func (p paramSource) PathParam(name string) []byte {
	k := 0
	for _, s := range p.pattern.Segments {
		if s.Param == name {
			return p.pattern.Param(p.path, k)
		}
		if s.Param != "" {
			k++
		}
	}
	return nil
}

func (p paramSource) QueryValues(name string) []string {
	var out []string
	for _, v := range p.ctx.QueryArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

func (p paramSource) Header(name string) ([]byte, bool) {
	v := p.ctx.Request.Header.Peek(name)
	return v, v != nil
}

func carriesContent(method []byte) bool {
	switch string(method) {
	case "POST", "PUT", "PATCH":
		return true
	}
	return false
}

// appendViolations encodes `"errors":[{"pointer":…,"message":…},…]`.
func appendViolations(dst []byte, vs []schema.Violation) []byte {
	dst = append(dst, `"errors":[`...)
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"pointer":`...)
		dst = contract.AppendJSONString(dst, v.Pointer)
		dst = append(dst, `,"message":`...)
		dst = contract.AppendJSONString(dst, v.Message)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}
