package metrics

import "github.com/cobaltgw/cobaltgw/contract"

// Label values are bounded so that no client can grow the number of
// series: routes are configured paths (never raw request paths), methods
// outside a fixed set are "OTHER", codes outside the contract's set are
// "other", and upstream error kinds are four.

// methods are the RFC 9110 §9 methods and PATCH (RFC 5789); any other
// method, including HTCPCP's BREW and WHEN, is counted as "OTHER".
var methods = [...]string{"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// methodIndex maps a request method to its index in methods. A switch on
// string(b) compiles to comparisons without converting b.
func methodIndex(b []byte) uint8 {
	switch string(b) {
	case "GET":
		return 1
	case "HEAD":
		return 2
	case "POST":
		return 3
	case "PUT":
		return 4
	case "PATCH":
		return 5
	case "DELETE":
		return 6
	case "OPTIONS":
		return 7
	case "CONNECT":
		return 8
	case "TRACE":
		return 9
	}
	return 0
}

// noRoute is the route label of a request that matched no route (404
// route_not_found, or refused before routing). Configured paths start
// with "/", so it cannot collide with one.
const noRoute = "(none)"

// knownCodes are the reason codes of README.md, plus the proxy's codes
// for answers that are not the gateway's own errors: "upstream_json" (an
// upstream's JSON 4xx kept as is) and "idempotent_replay" (a replayed
// response). The empty code is a success passed through. upstream_<status>
// codes are recognized by shape (see labelCode).
var knownCodes = func() map[string]bool {
	m := map[string]bool{"": true, "upstream_json": true, "idempotent_replay": true}
	for _, c := range contract.Codes {
		m[c] = true
	}
	return m
}()

// labelCode returns the label value for a reason code: the code itself
// when it is in the contract's set or is upstream_<three digits>, else
// "other". It runs once per new series, never per request.
func labelCode(code string) string {
	if knownCodes[code] {
		return code
	}
	const p = "upstream_"
	if len(code) == len(p)+3 && code[:len(p)] == p && isDigit(code[len(p)]) && isDigit(code[len(p)+1]) && isDigit(code[len(p)+2]) {
		return code
	}
	return "other"
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Upstream error kinds, derived from the reason code of a request that
// went to an upstream. They say how the upstream failed as the client saw
// it (README.md "Upstream normalization").
const (
	kindNone        = -1
	kindUnavailable = iota - 1 // upstream_unavailable: not reached (refused, no target, pool exhausted) or a 5xx mapped to 503
	kindTimeout                // upstream_timeout: no answer in time, or an upstream 504/408
	kindBadResponse            // upstream_bad_response: reset, truncated or unparsable
	kindErrorStatus            // upstream_error or upstream_5xx: the upstream answered with a 5xx
	numKinds
)

var kindNames = [numKinds]string{"unavailable", "timeout", "bad_response", "error_status"}

// kindOf returns the upstream error kind of a reason code, or kindNone.
func kindOf(code string) int {
	switch code {
	case contract.CodeUpstreamUnavailable:
		return kindUnavailable
	case contract.CodeUpstreamTimeout:
		return kindTimeout
	case contract.CodeUpstreamBadResponse:
		return kindBadResponse
	case contract.CodeUpstreamError:
		return kindErrorStatus
	}
	if len(code) == len("upstream_5xx") && code[:len("upstream_5")] == "upstream_5" {
		return kindErrorStatus
	}
	return kindNone
}
