package contract

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// codeDetails is the default `detail` of each reason code: the status's
// documented meaning where it fits the code, and a precise, safe sentence
// where it does not (an upstream timeout is not maintenance, a missing
// token is not a wrong one). docs/operations.md lists them all;
// [errors.details] overrides any of them (Details).
var codeDetails = map[string]string{
	CodeMalformedRequest:          "The request is not valid HTTP/1.1",
	CodeHeaderTooLarge:            "The request header is larger than the gateway accepts",
	CodeBodyTooLarge:              "The request body is larger than the gateway accepts",
	CodeMalformedJSON:             "The request body is not valid JSON",
	CodeInvalidIdempotencyKey:     "The Idempotency-Key header must be one key of 1 to 255 printable ASCII characters",
	CodeIdempotencyKeyRequired:    "This endpoint requires an Idempotency-Key header",
	CodeMissingToken:              "This endpoint needs an API token: send Authorization: Bearer <token>",
	CodeInvalidToken:              "Your API token is wrong",
	CodeClientCertificateRequired: "This endpoint requires a client certificate",
	CodeInsufficientScope:         "Your API token lacks a scope this endpoint requires",
	CodeForbidden:                 "You don't have access to this",
	CodeRouteNotFound:             "The specified request could not be found",
	CodeMethodNotAllowed:          "You tried to access Cobalt data with an invalid method",
	CodeNotAcceptable:             "You requested a format that isn't json",
	CodeIdempotencyKeyReused:      "You attempted to create a resource with the same Idempotency-Key header as a recent request",
	CodeIdempotencyKeyInFlight:    "A request with this Idempotency-Key is still being processed",
	CodeEndpointGone:              "The requested endpoint has been removed from Cobalt servers",
	CodeTeapot:                    "I'm a teapot",
	CodeSchemaViolation:           "The request body does not match the schema of this endpoint",
	CodeIdempotencyKeyMismatch:    "This Idempotency-Key was used for a different request",
	CodeRateLimited:               "You're making requests too often! Slow down!",
	"idempotency_quota_exceeded":  "You hold as many Idempotency-Keys as the gateway keeps for one client; retry when the oldest expires",
	CodeUpstreamError:             "The upstream service failed. Try again later",
	CodeUpstreamBadResponse:       "The upstream service sent an invalid response",
	CodeInternalError:             "We had a problem with our server. Try again later",
	CodeMaintenance:               "We're temporarily offline for maintenance. Please try again later",
	CodeUpstreamUnavailable:       "The upstream service cannot be reached",
	CodeUpstreamTimeout:           "The upstream service did not answer in time",
	CodeOverloaded:                "The gateway is at capacity; retry shortly",
	CodeStoreUnavailable:          "The gateway cannot record this Idempotency-Key right now. Please try again later",
	"auth_unavailable":            "API tokens cannot be verified right now. Please try again later",
	// upstream_<status>: an in-set upstream status whose body was
	// replaced. The status's meaning fits, except where it speaks of the
	// gateway's own features: an upstream's 503 is not the gateway's
	// maintenance, an upstream's 409 is not about our Idempotency-Key.
	"upstream_409": "The request conflicts with the current state of the resource",
	"upstream_503": "The upstream service is unavailable. Please try again later",
}

// DefaultDetail is the detail a response with code carries when neither
// the caller nor [errors.details] gives one: the code's own sentence, else
// the documented meaning of status.
func DefaultDetail(code string, status int) string {
	if d, ok := codeDetails[code]; ok {
		return d
	}
	return Detail(status)
}

// DetailCodes lists every reason code whose detail can be overridden,
// sorted: the codes of README.md and upstream_<status> for each status
// of the set.
func DetailCodes() []string {
	out := make([]string, 0, len(codeDetails)+len(Statuses))
	for c := range codeDetails {
		out = append(out, c)
	}
	for _, s := range Statuses {
		out = append(out, UpstreamCode(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Details are the [errors.details] overrides: reason code → sentence. The
// zero value and nil override nothing. Immutable once built.
type Details struct{ m map[string]string }

// NewDetails checks overrides: every key must be a code of DetailCodes and
// every sentence non-empty, valid UTF-8 and at most 500 bytes. The error
// names the first offending key; ErrUnknownCode marks an unknown code.
func NewDetails(overrides map[string]string) (*Details, error) {
	if len(overrides) == 0 {
		return nil, nil
	}
	known := DetailCodes()
	d := &Details{m: make(map[string]string, len(overrides))}
	for code, s := range overrides {
		if _, found := slices.BinarySearch(known, code); !found {
			return nil, &UnknownCodeError{Code: code}
		}
		if err := CheckDetail(s); err != nil {
			return nil, fmt.Errorf("%s: %w", code, err)
		}
		d.m[code] = s
	}
	return d, nil
}

// CheckDetail reports whether s can be a detail sentence.
func CheckDetail(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("the detail is empty; write a sentence, or remove the key to keep the default")
	case !utf8.ValidString(s):
		return fmt.Errorf("the detail is not valid UTF-8")
	case len(s) > 500:
		return fmt.Errorf("the detail is %d bytes long; keep it under 500", len(s))
	}
	return nil
}

// UnknownCodeError is an [errors.details] key that is no reason code.
type UnknownCodeError struct{ Code string }

func (e *UnknownCodeError) Error() string { return fmt.Sprintf("%q is not a reason code", e.Code) }

// lookup returns the override for code, if any.
func (d *Details) lookup(code string) (string, bool) {
	if d == nil {
		return "", false
	}
	s, ok := d.m[code]
	return s, ok
}
