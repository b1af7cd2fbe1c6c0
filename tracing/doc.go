// Package tracing makes the gateway's OpenTelemetry spans and carries the
// W3C Trace Context (https://www.w3.org/TR/trace-context/) from the client
// to the upstream. See README.md "Tracing" and docs/operations.md.
//
// Model:
//   - Without `[tracing] endpoint` no span is made and nothing is
//     exported, but an incoming traceparent is still continued: the
//     upstream receives the same trace id and flags with a new parent id
//     (the gateway's hop), and tracestate unchanged (Continue). This path
//     parses and writes on the stack: it allocates nothing.
//   - With an endpoint, each request is a server span (Tracer.Start) and
//     each upstream attempt a client span (Span implements
//     upstream.AttemptObserver), so retries show as sibling client spans.
//     The sampler is parent-based: a traceparent's sampled flag decides;
//     without one, sample_ratio of new traces are sampled. An unsampled
//     request still gets span ids, so propagation does not depend on
//     sampling.
//   - Spans go to a batch processor that exports over OTLP/HTTP on its own
//     goroutine; a full queue drops spans rather than block, so an
//     exporter or collector failure never delays a request.
package tracing
