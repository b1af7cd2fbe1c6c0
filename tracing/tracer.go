package tracing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Config is `[tracing]` (CONFIG.md "Observability").
type Config struct {
	Endpoint    string  // OTLP/HTTP traces URL; "" = no spans
	SampleRatio float64 // for new traces
	ServiceName string
	Version     string // service.version
}

// Tracer makes spans and exports them. A nil *Tracer makes none.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	// rootBound: a request without a parent starts a recorded trace when
	// a uniform 64-bit draw is below it (sample_ratio of 2^64).
	rootBound uint64
	rootAll   bool // sample_ratio >= 1
}

// New builds a Tracer for c, or returns nil when c.Endpoint is "". The
// exporter connects lazily: a collector that is down at start only
// loses spans.
func New(c Config) (*Tracer, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	for _, err := range []error{CheckEndpoint(c.Endpoint), CheckSampleRatio(c.SampleRatio), CheckServiceName(c.ServiceName)} {
		if err != nil {
			return nil, fmt.Errorf("[tracing]: %w", err)
		}
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(c.Endpoint), otlptracehttp.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("[tracing] endpoint: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(c.ServiceName), semconv.ServiceVersion(c.Version))
	tp := sdktrace.NewTracerProvider(
		// Non-blocking: a full queue drops spans, never a request.
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
		// Records decides the root sampling before any span is made (so
		// the 1 - sample_ratio unsampled requests cost one random draw,
		// not a span with its attributes); what reaches the SDK is sampled.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(res),
	)
	t := &Tracer{tp: tp, tracer: tp.Tracer("github.com/cobaltgw/cobaltgw")}
	switch {
	case c.SampleRatio >= 1:
		t.rootAll = true
	case c.SampleRatio > 0:
		t.rootBound = uint64(c.SampleRatio * math.MaxUint64)
	}
	return t, nil
}

// Records says whether a request's spans are recorded: a client's
// traceparent decides by its sampled flag (W3C Trace Context §3.2.2.5,
// parent-based sampling); a request without one is a new trace, recorded
// with probability sample_ratio. An unrecorded request makes no span: its
// traceparent, if any, is continued without one (Continue).
func (t *Tracer) Records(p Parent, hasParent bool) bool {
	if t == nil {
		return false
	}
	if hasParent {
		return p.Flags&1 == 1
	}
	return t.rootAll || rand.Uint64() < t.rootBound
}

// Shutdown flushes the spans still queued, until ctx is done.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// Request describes what the server span records at its start.
type Request struct {
	Method, Path, Scheme, Host, Client, UserAgent string
	// Parent is the client's traceparent, if HasParent; TraceState its
	// tracestate value (kept unchanged).
	Parent     Parent
	HasParent  bool
	TraceState string
}

// Span is one request's server span and its upstream attempts. It is
// pooled: End returns it, and the caller must not use it afterwards.
type Span struct {
	t       *Tracer
	ctx     context.Context
	server  trace.Span
	client  trace.Span
	attempt int
	method  string
}

var spanPool = sync.Pool{New: func() any { return new(Span) }}

// Start begins the server span of a request at start; nil when t is nil.
func (t *Tracer) Start(r *Request, start time.Time) *Span {
	if t == nil {
		return nil
	}
	ctx := context.Background()
	if r.HasParent {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: r.Parent.TraceID, SpanID: r.Parent.SpanID,
			TraceFlags: trace.TraceFlags(r.Parent.Flags & 1), Remote: true,
		})
		if ts, err := trace.ParseTraceState(r.TraceState); err == nil {
			sc = sc.WithTraceState(ts)
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	s := spanPool.Get().(*Span)
	s.t, s.attempt, s.method = t, 0, r.Method
	s.ctx, s.server = t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLPath(r.Path),
			semconv.URLScheme(r.Scheme),
			semconv.ServerAddress(r.Host),
			semconv.ClientAddress(r.Client),
			semconv.UserAgentOriginal(r.UserAgent),
			semconv.NetworkProtocolVersion("1.1"),
		))
	return s
}

// TraceID is the span's trace id (for the access log).
func (s *Span) TraceID() [16]byte { return s.server.SpanContext().TraceID() }

// AttemptStart opens the client span of upstream attempt n (it
// implements upstream.AttemptObserver) and sets the traceparent the
// upstream receives: the attempt's span as parent, tracestate unchanged.
func (s *Span) AttemptStart(req *fasthttp.Request, target string, n int) {
	s.attempt = n
	method := string(req.Header.Method())
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLFull(target + string(req.Header.RequestURI())),
	}
	if n > 1 {
		attrs = append(attrs, semconv.HTTPRequestResendCount(n-1))
	}
	_, s.client = s.t.tracer.Start(s.ctx, method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	sc := s.client.SpanContext()
	var b [TraceparentLen]byte
	req.Header.SetBytesKV(hdrTraceparent, AppendTraceparent(b[:0], sc.TraceID(), sc.SpanID(), byte(sc.TraceFlags())))
}

// AttemptEnd closes the attempt's span: status is the upstream's status
// (0 when none arrived), errKind the failure ("" for none).
func (s *Span) AttemptEnd(status int, errKind string) {
	if s == nil {
		return
	}
	if s.client == nil {
		return
	}
	if status > 0 {
		s.client.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	// A client span is an error for any failure and for 4xx/5xx
	// (semantic conventions, HTTP spans "Status").
	switch {
	case errKind != "":
		s.client.SetAttributes(semconv.ErrorTypeKey.String(errKind))
		s.client.SetStatus(codes.Error, errKind)
	case status >= 400:
		s.client.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(status)))
		s.client.SetStatus(codes.Error, "")
	}
	s.client.End()
	s.client = nil
}

// End finishes the server span with the response: route is the matched
// route's configured path ("" for none), code the reason code ("" for a
// success passed through). A 5xx is an error span with the code as
// error.type; every error carries cobaltgw.code. s must not be used
// after End.
func (s *Span) End(route string, status int, code string) {
	if s.client != nil { // a panic mid-attempt
		s.AttemptEnd(0, "internal_error")
	}
	if route != "" {
		s.server.SetName(s.method + " " + route) // semantic conventions: "{method} {http.route}"
		s.server.SetAttributes(semconv.HTTPRoute(route))
	}
	s.server.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if code != "" {
		s.server.SetAttributes(attribute.String("cobaltgw.code", code))
	}
	if status >= 500 {
		s.server.SetAttributes(semconv.ErrorTypeKey.String(code))
		s.server.SetStatus(codes.Error, code)
	}
	s.server.End()
	*s = Span{}
	spanPool.Put(s)
}
