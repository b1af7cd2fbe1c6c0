package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP traces endpoint (protobuf POST /v1/traces)
// that keeps every span it receives.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &otlpReceiver{url: "http://" + ln.Addr().String() + "/v1/traces"}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want a protobuf POST to /v1/traces", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				rc.spans = append(rc.spans, ss.GetSpans()...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rc
}

// trace waits until want spans of traceID arrived and returns them.
func (rc *otlpReceiver) trace(t *testing.T, traceID string, want int) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []*tracepb.Span
		rc.mu.Lock()
		for _, s := range rc.spans {
			if hex.EncodeToString(s.GetTraceId()) == traceID {
				got = append(got, s)
			}
		}
		rc.mu.Unlock()
		if len(got) >= want || time.Now().After(deadline) {
			if len(got) < want {
				t.Fatalf("trace %s: %d spans arrived, want %d", traceID, len(got), want)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			v := kv.GetValue()
			if v.GetStringValue() != "" {
				return v.GetStringValue()
			}
			return fmt.Sprint(v.GetIntValue())
		}
	}
	return ""
}

func spansOfKind(spans []*tracepb.Span, k tracepb.Span_SpanKind) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if s.GetKind() == k {
			out = append(out, s)
		}
	}
	return out
}

func traceparent(traceID, parentID string, sampled bool) string {
	flags := "00"
	if sampled {
		flags = "01"
	}
	return "00-" + traceID + "-" + parentID + "-" + flags
}

// TestTracingExportsSpans: with [tracing] endpoint, a request is a server
// span continuing the client's trace, each upstream attempt a client
// span, and the upstream sees the trace id with the attempt as parent.
func TestTracingExportsSpans(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := newUpstream(t, echo)
	dead := deadAddr(t)
	cfg := baseConfig(up.addr, fmt.Sprintf(`
[[upstreams]]
name = "flaky"
targets = ["http://%s", "http://%s"]
connect_timeout = "500ms"
retries = 1
retry_budget = 1.0
eject_after = 1000
[[upstreams]]
name = "down"
targets = ["http://%s"]
[[routes]]
path = "/v1/flaky/*"
methods = ["GET"]
upstream = "flaky"
[[routes]]
path = "/v1/down"
methods = ["GET"]
upstream = "down"
`, dead, up.addr, dead))
	cfg = strings.Replace(cfg, "[log]\n", fmt.Sprintf("[tracing]\nendpoint = %q\nsample_ratio = 0.0\nservice_name = \"gw-test\"\n[log]\n", rc.url), 1)
	g := startGateway(t, cfg)

	t.Run("server and client spans continue the client's trace", func(t *testing.T) {
		const tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		r := g.do(t, "GET", "/v1/assets/7", "", "traceparent: "+traceparent(tid, pid, true), "tracestate: vendor=abc")
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		seen, _ := up.lastRequest()
		tp := seen.Header.Get("Traceparent")
		if !strings.HasPrefix(tp, "00-"+tid+"-") || strings.Contains(tp, pid) || !strings.HasSuffix(tp, "-01") {
			t.Fatalf("upstream saw traceparent %q", tp)
		}
		if ts := seen.Header.Get("Tracestate"); ts != "vendor=abc" {
			t.Fatalf("upstream saw tracestate %q", ts)
		}
		spans := rc.trace(t, tid, 2)
		srv, cli := spansOfKind(spans, tracepb.Span_SPAN_KIND_SERVER), spansOfKind(spans, tracepb.Span_SPAN_KIND_CLIENT)
		if len(srv) != 1 || len(cli) != 1 {
			t.Fatalf("%d server and %d client spans", len(srv), len(cli))
		}
		s, c := srv[0], cli[0]
		if hex.EncodeToString(s.GetParentSpanId()) != pid {
			t.Errorf("server span parent %x, want the client's %s", s.GetParentSpanId(), pid)
		}
		if string(c.GetParentSpanId()) != string(s.GetSpanId()) {
			t.Errorf("client span is not a child of the server span")
		}
		if want := "00-" + tid + "-" + hex.EncodeToString(c.GetSpanId()) + "-01"; tp != want {
			t.Errorf("upstream traceparent %q, want the client span as parent %q", tp, want)
		}
		if s.GetName() != "GET /v1/assets/*" || attr(s, "http.route") != "/v1/assets/*" || attr(s, "http.response.status_code") != "200" || attr(s, "http.request.method") != "GET" {
			t.Errorf("server span %q attributes %v", s.GetName(), s.GetAttributes())
		}
		if attr(c, "http.response.status_code") != "200" || !strings.HasPrefix(attr(c, "url.full"), "http://"+up.addr+"/v1/assets/7") {
			t.Errorf("client span attributes %v", c.GetAttributes())
		}
	})

	t.Run("each retry is a client span", func(t *testing.T) {
		for i := range 6 {
			tid := fmt.Sprintf("%032x", 0xabc000+i)
			if r := g.do(t, "GET", "/v1/flaky/x", "", "traceparent: "+traceparent(tid, "00f067aa0ba902b7", true)); r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			spans := rc.trace(t, tid, 2)
			cli := spansOfKind(spans, tracepb.Span_SPAN_KIND_CLIENT)
			if len(cli) == 2 {
				first, retry := cli[0], cli[1]
				if attr(first, "http.request.resend_count") != "" {
					first, retry = retry, first
				}
				if first.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || attr(retry, "http.request.resend_count") != "1" {
					t.Fatalf("failed attempt %v / retry %v", first, retry)
				}
				return
			}
		}
		t.Fatal("no request hit the dead target first in 6 tries")
	})

	t.Run("an error span carries the reason code", func(t *testing.T) {
		const tid = "11111111111111111111111111111111"
		assertProblem(t, g.do(t, "GET", "/v1/down", "", "traceparent: "+traceparent(tid, "2222222222222222", true)), 503, "upstream_unavailable")
		spans := rc.trace(t, tid, 2)
		s := spansOfKind(spans, tracepb.Span_SPAN_KIND_SERVER)[0]
		if s.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || attr(s, "cobaltgw.code") != "upstream_unavailable" || attr(s, "error.type") != "upstream_unavailable" || attr(s, "http.response.status_code") != "503" {
			t.Fatalf("status %v attributes %v", s.GetStatus(), s.GetAttributes())
		}
	})

	t.Run("an unsampled parent is continued, not exported", func(t *testing.T) {
		const tid = "33333333333333333333333333333333"
		g.do(t, "GET", "/v1/assets/1", "", "traceparent: "+traceparent(tid, "4444444444444444", false))
		seen, _ := up.lastRequest()
		if tp := seen.Header.Get("Traceparent"); !strings.HasPrefix(tp, "00-"+tid+"-") || !strings.HasSuffix(tp, "-00") || strings.Contains(tp, "4444444444444444") {
			t.Fatalf("upstream saw %q", tp)
		}
		time.Sleep(1500 * time.Millisecond) // a batch interval
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, s := range rc.spans {
			if hex.EncodeToString(s.GetTraceId()) == tid {
				t.Fatal("an unsampled trace was exported")
			}
		}
	})
}

// TestTracingWithoutExporter: no endpoint, but the client's trace still
// reaches the upstream with the gateway's hop as parent, and the access
// log line carries the trace id.
func TestTracingWithoutExporter(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, baseConfig(up.addr, ""))
	const tid, pid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	g.do(t, "GET", "/v1/assets/1", "", "traceparent: "+traceparent(tid, pid, true), "tracestate: congo=t61rcWkgMzE", "User-Agent: probe/1.0")
	seen, _ := up.lastRequest()
	tp := seen.Header.Get("Traceparent")
	if !strings.HasPrefix(tp, "00-"+tid+"-") || !strings.HasSuffix(tp, "-01") || strings.Contains(tp, pid) || len(tp) != 55 {
		t.Fatalf("upstream saw traceparent %q", tp)
	}
	if seen.Header.Get("Tracestate") != "congo=t61rcWkgMzE" {
		t.Fatalf("tracestate %q", seen.Header.Get("Tracestate"))
	}
	g.do(t, "GET", "/v1/assets/2", "", "traceparent: 00-zzz")
	if seen, _ := up.lastRequest(); seen.Header.Get("Traceparent") != "" {
		t.Fatalf("an invalid traceparent was passed on: %q", seen.Header.Get("Traceparent"))
	}
	eventually(t, "access log with the trace id", func() bool {
		return strings.Contains(g.out.String(), `"trace_id":"`+tid+`"`) && strings.Contains(g.out.String(), `"user_agent":"probe/1.0"`)
	})
}
