// Package tracing makes the gateway's OpenTelemetry spans and carries the
// W3C Trace Context (traceparent, tracestate) from the client to the
// upstream. See README.md "Tracing" and docs/operations.md.
package tracing
