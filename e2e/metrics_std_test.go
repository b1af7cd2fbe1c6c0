package e2e

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsStandardExposition: /metrics is client_golang's: process and
// Go collectors, build info, gzip and OpenMetrics by negotiation, status
// and code as separate labels, and no series for what never happened.
func TestMetricsStandardExposition(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGateway(t, opsConfig(up.addr, "", ""))
	g.do(t, "GET", "/v1/assets", "")
	g.do(t, "GET", "/nowhere", "")
	_, body := g.admin(t, "/metrics")
	for _, want := range []string{
		`cobaltgw_build_info{goversion="go`, `process_cpu_seconds_total `, `process_resident_memory_bytes `, `go_goroutines `, `go_gc_duration_seconds{quantile=`,
		`cobaltgw_requests_total{code="",method="GET",route="/v1/assets",status="200"} 1`,
		`cobaltgw_requests_total{code="route_not_found",method="GET",route="(none)",status="404"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("%q missing", want)
		}
	}
	for _, bad := range []string{`(overflow)`, `status="0"`, `kind="bad_response"`} {
		if strings.Contains(body, bad) {
			t.Errorf("a series that never happened: %q", bad)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+g.adminAddr(t)+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text") || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Type %q Content-Encoding %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if !strings.HasSuffix(string(b), "# EOF\n") || !strings.Contains(string(b), "cobaltgw_requests_total{") {
		t.Fatalf("not OpenMetrics:\n%s", b)
	}
}
