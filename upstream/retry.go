package upstream

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// failure is what went wrong in one attempt, as far as retrying and
// passive health care.
type failure uint8

const (
	failNone        failure = iota
	failConnect             // connect refused or timed out, DNS, TLS handshake: nothing sent
	failStale               // a pooled connection the upstream had closed while idle: nothing sent
	failNoFreeConns         // every connection to the target busy past connect_timeout: nothing sent
	failTimeout             // no (complete) response within the timeout: the request may be running
	failClosed              // closed or reset after sending, before any response byte
	failBadResponse         // truncated or unparsable response, or one over MaxResponseBody
	failRequestBody         // the client's streamed body failed (ErrRequestBody): not the target's doing
)

// classifyFailure names the failure of one attempt. responseStarted says
// whether a response byte arrived (a closed connection after that is a
// truncated response).
func classifyFailure(err error, responseStarted bool) failure {
	switch {
	case err == nil:
		return failNone
	case errors.Is(err, errStaleConn):
		return failStale
	case isConnectFailure(err), errors.Is(err, fasthttp.ErrDialTimeout):
		return failConnect
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return failNoFreeConns
	case errors.Is(err, ErrRequestBody):
		return failRequestBody
	case errors.Is(err, fasthttp.ErrTimeout):
		return failTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return failTimeout
	}
	if responseStarted || errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return failBadResponse
	}
	return failClosed
}

// RetryDecision reports whether an attempt that failed with err may be
// made again (on another target when there is one) for a request with
// this method. bodyHeld says the gateway still holds the whole request
// body (it was not streamed from the client), responseStarted that a
// response byte arrived. The rules (README.md "Upstreams"):
//   - nothing was sent (a connect failure, or a pooled connection found
//     closed before writing): any method; a stale connection only while
//     the body is held, since a streamed body may have been read into the
//     write buffer;
//   - a connection closed or reset after sending and before any response
//     byte: only an idempotent method (RFC 9110 §9.2.2) whose body is
//     held: the upstream may have received the request, and only an
//     idempotent one can run twice safely;
//   - never after a timeout (the request may still be running), after a
//     response began, or when every connection was busy (retrying would
//     add load where there is too much).
//
// The retry budget and the count of retries are the caller's (Pool.Do).
func RetryDecision(err error, method []byte, bodyHeld, responseStarted bool) bool {
	switch classifyFailure(err, responseStarted) {
	case failConnect:
		return true
	case failStale:
		return bodyHeld
	case failClosed:
		return bodyHeld && idempotent(method)
	}
	return false
}

// idempotent reports whether a method is idempotent (RFC 9110 §9.2.2:
// GET, HEAD, OPTIONS, TRACE, PUT, DELETE; QUERY is idempotent by its
// draft, draft-ietf-httpbis-safe-method-w-body §2).
func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "QUERY":
		return true
	}
	return false
}
