package metrics

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// BenchmarkObserveRequest is the per-request cost of metrics on the hot
// path: one handle lookup, a counter and a route histogram.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(t0)
	get := []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("/v1/assets", get, 200, "", 1200*time.Microsecond, 0, "")
	}
}

// BenchmarkObserveRequestUpstream adds the upstream histogram, for a
// proxied request.
func BenchmarkObserveRequestUpstream(b *testing.B) {
	m := New(t0)
	get := []byte("GET")
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("/v1/assets", get, 200, "", 1200*time.Microsecond, 1100*time.Microsecond, "api")
	}
}

// BenchmarkObserveRequestParallel is the same from every core at once, on
// one series (the worst case for cache-line sharing).
func BenchmarkObserveRequestParallel(b *testing.B) {
	m := New(t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		get := []byte("GET")
		for pb.Next() {
			m.ObserveRequest("/v1/assets", get, 200, "", 1200*time.Microsecond, 1100*time.Microsecond, "api")
		}
	})
}

// BenchmarkObserveRequestManySeries looks up among 500 label sets, as a
// gateway with many routes and statuses would.
func BenchmarkObserveRequestManySeries(b *testing.B) {
	m := New(t0)
	routes := make([]string, 50)
	for i := range routes {
		routes[i] = fmt.Sprintf("/v1/route%d/*", i)
		for s := 0; s < 10; s++ {
			m.ObserveRequest(routes[i], []byte("GET"), 200+s, "", time.Millisecond, time.Millisecond, "api")
		}
	}
	get := []byte("GET")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.ObserveRequest(routes[i%50], get, 200+i%10, "", time.Millisecond, time.Millisecond, "api")
		i++
	}
}

// BenchmarkWritePrometheus is the cost of one scrape with 500 series.
func BenchmarkWritePrometheus(b *testing.B) {
	m := New(t0)
	for i := 0; i < 50; i++ {
		for s := 0; s < 10; s++ {
			m.ObserveRequest(fmt.Sprintf("/v1/route%d/*", i), []byte("GET"), 200+s, "", time.Millisecond, time.Millisecond, "api")
		}
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		_ = m.WritePrometheus(&buf)
	}
}
