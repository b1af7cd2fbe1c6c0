package upstream

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRetryDecision: the retry rules of README.md "Upstreams", one case
// per rule; the name says it.
func TestRetryDecision(t *testing.T) {
	connect := &dialError{errors.New("connection refused")}
	reset := fmt.Errorf("write: %w", syscall.ECONNRESET)
	cases := []struct {
		name            string
		err             error
		method          string
		bodyHeld        bool
		responseStarted bool
		want            bool
	}{
		{"no error: nothing to retry", nil, "GET", true, true, false},
		{"connect failure: GET retried (nothing sent)", connect, "GET", true, false, true},
		{"connect failure: POST retried too (nothing sent)", connect, "POST", true, false, true},
		{"connect failure: a streamed body is still unread", connect, "POST", false, false, true},
		{"TLS handshake failure is a connect failure", &dialError{errors.New("tls handshake: bad certificate")}, "PATCH", true, false, true},
		{"stale pooled connection: POST resent (nothing written)", errStaleConn, "POST", true, false, true},
		{"stale pooled connection: not with a streamed body (part may be buffered)", errStaleConn, "GET", false, false, false},
		{"closed before the first response byte: GET retried", fasthttp.ErrConnectionClosed, "GET", true, false, true},
		{"closed before the first response byte: HEAD retried", fasthttp.ErrConnectionClosed, "HEAD", true, false, true},
		{"closed before the first response byte: OPTIONS retried", fasthttp.ErrConnectionClosed, "OPTIONS", true, false, true},
		{"closed before the first response byte: TRACE retried", fasthttp.ErrConnectionClosed, "TRACE", true, false, true},
		{"closed before the first response byte: PUT retried", fasthttp.ErrConnectionClosed, "PUT", true, false, true},
		{"closed before the first response byte: DELETE retried", fasthttp.ErrConnectionClosed, "DELETE", true, false, true},
		{"reset while writing: GET retried", reset, "GET", true, false, true},
		{"closed before the first response byte: POST never (may have been received)", fasthttp.ErrConnectionClosed, "POST", true, false, false},
		{"closed before the first response byte: PATCH never", fasthttp.ErrConnectionClosed, "PATCH", true, false, false},
		{"reset while writing: POST never", reset, "POST", true, false, false},
		{"closed before the first response byte: GET with a streamed body never", fasthttp.ErrConnectionClosed, "GET", false, false, false},
		{"closed after the response began: never", io.ErrUnexpectedEOF, "GET", true, true, false},
		{"timeout: never, even for GET", fasthttp.ErrTimeout, "GET", true, false, false},
		{"timeout after the response began: never", fasthttp.ErrTimeout, "GET", true, true, false},
		{"every connection busy: not retried", fasthttp.ErrNoFreeConns, "GET", true, false, false},
		{"body over the limit: not retried", fasthttp.ErrBodyTooLarge, "GET", true, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryDecision(tc.err, []byte(tc.method), tc.bodyHeld, tc.responseStarted); got != tc.want {
				t.Fatalf("RetryDecision(%v, %s, bodyHeld=%v, started=%v) = %v, want %v",
					tc.err, tc.method, tc.bodyHeld, tc.responseStarted, got, tc.want)
			}
		})
	}
}

// TestFailureOutcome: what the proxy answers after the last attempt.
func TestFailureOutcome(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want Outcome
	}{
		{"connect failure: unavailable (claim released)", &dialError{errors.New("refused")}, Unavailable},
		{"stale connection: unavailable (nothing sent)", errStaleConn, Unavailable},
		{"pool exhausted: unavailable", fasthttp.ErrNoFreeConns, Unavailable},
		{"timeout", fasthttp.ErrTimeout, Timeout},
		{"closed before the response: bad response (may have been received)", fasthttp.ErrConnectionClosed, BadResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyFailure(tc.err, false).outcome(); got != tc.want {
				t.Fatalf("%v: %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
