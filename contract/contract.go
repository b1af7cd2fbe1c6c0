// Package contract owns the gateway's error contract: the closed set of
// error statuses a client can receive, their titles and documented
// meanings, the stable reason codes, the one JSON body shape (compatible
// with RFC 9457 Problem Details) and the table that maps upstream statuses
// onto the set.
//
// Invariants: every error response the gateway writes goes through Write,
// so it always has a status from the set, Content-Type application/json (or
// application/problem+json when the client prefers it), Cache-Control:
// no-store, an X-Request-Id header equal to the body's request_id, and a
// body whose status member equals the HTTP status. The package imports
// nothing of ours.
package contract

// The statuses of the contract. Success and redirection pass through; errors
// are exactly these.
const (
	StatusBadRequest          = 400
	StatusUnauthorized        = 401
	StatusForbidden           = 403
	StatusNotFound            = 404
	StatusMethodNotAllowed    = 405
	StatusNotAcceptable       = 406
	StatusConflict            = 409
	StatusGone                = 410
	StatusTeapot              = 418
	StatusUnprocessableEntity = 422
	StatusTooManyRequests     = 429
	StatusInternalServerError = 500
	StatusServiceUnavailable  = 503
)

// Statuses lists the contract's error statuses in ascending order.
var Statuses = [...]int{400, 401, 403, 404, 405, 406, 409, 410, 418, 422, 429, 500, 503}

// Reason codes: a stable, documented, machine-readable API. Never rename one.
const (
	CodeMalformedRequest          = "malformed_request"
	CodeHeaderTooLarge            = "header_too_large"
	CodeBodyTooLarge              = "body_too_large"
	CodeMalformedJSON             = "malformed_json"
	CodeInvalidIdempotencyKey     = "invalid_idempotency_key"
	CodeIdempotencyKeyRequired    = "idempotency_key_required"
	CodeMissingToken              = "missing_token"
	CodeInvalidToken              = "invalid_token"
	CodeClientCertificateRequired = "client_certificate_required"
	CodeInsufficientScope         = "insufficient_scope"
	CodeForbidden                 = "forbidden"
	CodeRouteNotFound             = "route_not_found"
	CodeMethodNotAllowed          = "method_not_allowed"
	CodeNotAcceptable             = "not_acceptable"
	CodeIdempotencyKeyReused      = "idempotency_key_reused"
	CodeIdempotencyKeyInFlight    = "idempotency_key_in_flight"
	CodeEndpointGone              = "endpoint_gone"
	CodeTeapot                    = "teapot"
	CodeSchemaViolation           = "schema_violation"
	CodeIdempotencyKeyMismatch    = "idempotency_key_mismatch"
	CodeRateLimited               = "rate_limited"
	CodeIdempotencyQuotaExceeded  = "idempotency_quota_exceeded"
	CodeUpstreamError             = "upstream_error"
	CodeUpstreamBadResponse       = "upstream_bad_response"
	CodeInternalError             = "internal_error"
	CodeMaintenance               = "maintenance"
	CodeUpstreamUnavailable       = "upstream_unavailable"
	CodeUpstreamTimeout           = "upstream_timeout"
	CodeOverloaded                = "overloaded"
	CodeStoreUnavailable          = "store_unavailable"
	CodeAuthUnavailable           = "auth_unavailable"
)

// Codes lists every reason code of the contract (README.md "The error
// contract"), in the order of the constants above. Metrics label by it;
// a test binds it to the constants and to the literals of the code base.
var Codes = [...]string{
	CodeMalformedRequest,
	CodeHeaderTooLarge,
	CodeBodyTooLarge,
	CodeMalformedJSON,
	CodeInvalidIdempotencyKey,
	CodeIdempotencyKeyRequired,
	CodeMissingToken,
	CodeInvalidToken,
	CodeClientCertificateRequired,
	CodeInsufficientScope,
	CodeForbidden,
	CodeRouteNotFound,
	CodeMethodNotAllowed,
	CodeNotAcceptable,
	CodeIdempotencyKeyReused,
	CodeIdempotencyKeyInFlight,
	CodeEndpointGone,
	CodeTeapot,
	CodeSchemaViolation,
	CodeIdempotencyKeyMismatch,
	CodeRateLimited,
	CodeIdempotencyQuotaExceeded,
	CodeUpstreamError,
	CodeUpstreamBadResponse,
	CodeInternalError,
	CodeMaintenance,
	CodeUpstreamUnavailable,
	CodeUpstreamTimeout,
	CodeOverloaded,
	CodeStoreUnavailable,
	CodeAuthUnavailable,
}

type statusInfo struct {
	title, detail string
	// upstreamCode is "upstream_<status>", the code of an upstream status
	// that stays in the set when the upstream body is not kept.
	upstreamCode string
}

// info is indexed by status-400; zero entries are statuses outside the set.
var info = [104]statusInfo{
	400 - 400: {"Bad Request", "Your request is not good", "upstream_400"},
	401 - 400: {"Unauthorized", "Your API token is wrong", "upstream_401"},
	403 - 400: {"Forbidden", "You don't have access to this", "upstream_403"},
	404 - 400: {"Not Found", "The specified request could not be found", "upstream_404"},
	405 - 400: {"Method Not Allowed", "You tried to access Cobalt data with an invalid method", "upstream_405"},
	406 - 400: {"Not Acceptable", "You requested a format that isn't json", "upstream_406"},
	409 - 400: {"Conflict", "You attempted to create a resource with the same Idempotency-Key header as a recent request", "upstream_409"},
	410 - 400: {"Gone", "The requested endpoint has been removed from Cobalt servers", "upstream_410"},
	418 - 400: {"I'm a teapot", "I'm a teapot", "upstream_418"},
	422 - 400: {"Unprocessable Entity", "The content and syntax are correctly formed, but something else is off", "upstream_422"},
	429 - 400: {"Too Many Requests", "You're making requests too often! Slow down!", "upstream_429"},
	500 - 400: {"Internal Server Error", "We had a problem with our server. Try again later", "upstream_500"},
	503 - 400: {"Service Unavailable", "We're temporarily offline for maintenance. Please try again later", "upstream_503"},
}

func lookup(status int) *statusInfo {
	if status < 400 || status-400 >= len(info) {
		return nil
	}
	si := &info[status-400]
	if si.title == "" {
		return nil
	}
	return si
}

// InSet reports whether status is one of the contract's error statuses.
func InSet(status int) bool { return lookup(status) != nil }

// Title returns the contract title of status, or "" outside the set.
func Title(status int) string {
	if si := lookup(status); si != nil {
		return si.title
	}
	return ""
}

// Detail returns the documented meaning of status, or "" outside the set.
func Detail(status int) string {
	if si := lookup(status); si != nil {
		return si.detail
	}
	return ""
}

// UpstreamCode returns the reason code for an in-set upstream status whose
// body was replaced: "upstream_<status>".
func UpstreamCode(status int) string {
	if si := lookup(status); si != nil {
		return si.upstreamCode
	}
	return CodeUpstreamError
}
