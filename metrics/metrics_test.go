package metrics

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/promtest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// scrape returns the exposition and its samples by series (name and labels
// as written).
func scrape(t *testing.T, m *Metrics) (string, map[string]float64) {
	t.Helper()
	var b bytes.Buffer
	if err := m.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	samples, err := promtest.Samples(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), samples
}

func TestRequestSeries(t *testing.T) {
	m := New(t0)
	ms := time.Millisecond
	m.ObserveRequest("/v1/assets", []byte("GET"), 200, "", 3*ms, 2*ms, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 200, "", 30*ms, 29*ms, "api")
	m.ObserveRequest("/v1/assets", []byte("POST"), 409, "idempotency_key_reused", 50*time.Microsecond, 0, "")
	m.ObserveRequest("", []byte("GET"), 404, "route_not_found", 40*time.Microsecond, 0, "")
	m.ObserveRequest("/v1/assets", []byte("get"), 405, "method_not_allowed", ms, 0, "")
	m.ObserveRequest("/v1/coffee", []byte("BREW"), 418, "teapot", ms, 0, "")
	m.ObserveRequest("/v1/assets", []byte("GET"), 503, "upstream_unavailable", ms, ms, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 503, "upstream_timeout", 2*time.Second, 2*time.Second, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 500, "upstream_error", ms, ms, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 503, "upstream_503", ms, ms, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 404, "upstream_json", ms, ms, "api")
	m.ObserveRequest("/v1/assets", []byte("GET"), 400, "no such code", ms, 0, "")
	_, s := scrape(t, m)
	want := map[string]float64{
		`cobaltgw_requests_total{route="/v1/assets",method="GET",status="200",code=""}`:                        2,
		`cobaltgw_requests_total{route="/v1/assets",method="POST",status="409",code="idempotency_key_reused"}`: 1,
		`cobaltgw_requests_total{route="(none)",method="GET",status="404",code="route_not_found"}`:             1,
		`cobaltgw_requests_total{route="/v1/assets",method="OTHER",status="405",code="method_not_allowed"}`:    1,
		`cobaltgw_requests_total{route="/v1/coffee",method="OTHER",status="418",code="teapot"}`:                1,
		`cobaltgw_requests_total{route="/v1/assets",method="GET",status="503",code="upstream_503"}`:            1,
		`cobaltgw_requests_total{route="/v1/assets",method="GET",status="400",code="other"}`:                   1,
		`cobaltgw_request_duration_seconds_count{route="/v1/assets"}`:                                          10,
		`cobaltgw_request_duration_seconds_bucket{route="/v1/assets",le="0.0001"}`:                             1,
		`cobaltgw_request_duration_seconds_bucket{route="/v1/assets",le="0.0025"}`:                             7,
		`cobaltgw_request_duration_seconds_bucket{route="/v1/assets",le="+Inf"}`:                               10,
		`cobaltgw_request_duration_seconds_count{route="(none)"}`:                                              1,
		`cobaltgw_upstream_duration_seconds_count{upstream="api"}`:                                             7,
		`cobaltgw_upstream_duration_seconds_bucket{upstream="api",le="0.001"}`:                                 4,
		`cobaltgw_upstream_errors_total{upstream="api",kind="unavailable"}`:                                    1,
		`cobaltgw_upstream_errors_total{upstream="api",kind="timeout"}`:                                        1,
		`cobaltgw_upstream_errors_total{upstream="api",kind="error_status"}`:                                   2,
		`cobaltgw_config_reloads_total{result="ok"}`:                                                           0,
		`cobaltgw_config_last_reload_successful`:                                                               1,
		`cobaltgw_config_last_reload_success_timestamp_seconds`:                                                float64(t0.Unix()),
	}
	for k, v := range want {
		got, ok := s[k]
		if !ok {
			t.Errorf("missing %s", k)
		} else if got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if got := s[`cobaltgw_request_duration_seconds_sum{route="/v1/assets"}`]; got < 2.039 || got > 2.0391 {
		t.Errorf("duration sum = %v, want 2.03905", got)
	}
}

func TestUpstreamErrorKindFromCode(t *testing.T) {
	cases := []struct {
		code string
		kind int
	}{
		{"upstream_unavailable", kindUnavailable},
		{"upstream_timeout", kindTimeout},
		{"upstream_bad_response", kindBadResponse},
		{"upstream_error", kindErrorStatus},
		{"upstream_503", kindErrorStatus},
		{"upstream_500", kindErrorStatus},
		{"upstream_404", kindNone},
		{"upstream_json", kindNone},
		{"", kindNone},
		{"rate_limited", kindNone},
	}
	for _, tc := range cases {
		if got := kindOf(tc.code); got != tc.kind {
			t.Errorf("kindOf(%q) = %d, want %d", tc.code, got, tc.kind)
		}
	}
}

func TestLabelsAreBounded(t *testing.T) {
	t.Run("methods outside the set are OTHER", func(t *testing.T) {
		for _, m := range []string{"get", "BREW", "WHEN", "PROPFIND", "", "GETT"} {
			if i := methodIndex([]byte(m)); i != 0 {
				t.Errorf("%q → %s", m, methods[i])
			}
		}
		for i, m := range methods[1:] {
			if got := methodIndex([]byte(m)); int(got) != i+1 {
				t.Errorf("%q → %d", m, got)
			}
		}
	})
	t.Run("codes outside the contract are other", func(t *testing.T) {
		for code, want := range map[string]string{
			"rate_limited": "rate_limited", "": "", "upstream_418": "upstream_418",
			"upstream_4180": "other", "upstream_abc": "other", "x\"y": "other", "/v1/secret": "other",
		} {
			if got := labelCode(code); got != want {
				t.Errorf("labelCode(%q) = %q, want %q", code, got, want)
			}
		}
	})
	t.Run("series beyond MaxSeries go to the overflow route", func(t *testing.T) {
		m := New(t0)
		m.limit = 100
		for i := 0; i < m.limit+10; i++ {
			m.ObserveRequest(fmt.Sprintf("/r%d", i), []byte("GET"), 200, "", time.Millisecond, 0, "")
		}
		if n := len(*m.fast.Load()); n != m.limit {
			t.Fatalf("%d handles, want %d", n, m.limit)
		}
		_, s := scrape(t, m)
		if got := s[`cobaltgw_requests_total{route="(overflow)",method="OTHER",status="0",code="other"}`]; got != 10 {
			t.Fatalf("overflow count = %v, want 10", got)
		}
	})
}

func TestRateLimitRejectionsByPolicy(t *testing.T) {
	m := New(t0)
	m.RateLimitRejected("per_ip")
	m.RateLimitRejected("per_ip")
	m.RateLimitRejected("per_token")
	_, s := scrape(t, m)
	if s[`cobaltgw_ratelimit_rejections_total{policy="per_ip"}`] != 2 || s[`cobaltgw_ratelimit_rejections_total{policy="per_token"}`] != 1 {
		t.Fatalf("rejections: %v", s)
	}
	if n := testing.AllocsPerRun(100, func() { m.RateLimitRejected("per_ip") }); n != 0 {
		t.Fatalf("RateLimitRejected allocates %v times", n)
	}
}

func TestConfigReloadResults(t *testing.T) {
	m := New(t0)
	m.ConfigReloaded(false, t0.Add(time.Minute))
	_, s := scrape(t, m)
	if s[`cobaltgw_config_reloads_total{result="error"}`] != 1 || s[`cobaltgw_config_last_reload_successful`] != 0 ||
		s[`cobaltgw_config_last_reload_success_timestamp_seconds`] != float64(t0.Unix()) {
		t.Fatalf("after a failed reload: %v", s)
	}
	m.ConfigReloaded(true, t0.Add(2*time.Minute))
	_, s = scrape(t, m)
	if s[`cobaltgw_config_reloads_total{result="ok"}`] != 1 || s[`cobaltgw_config_last_reload_successful`] != 1 ||
		s[`cobaltgw_config_last_reload_success_timestamp_seconds`] != float64(t0.Add(2*time.Minute).Unix()) {
		t.Fatalf("after a good reload: %v", s)
	}
}

func TestScrapeTimeSources(t *testing.T) {
	m := New(t0)
	m.SetSources(Sources{
		Inflight: func() int64 { return 7 },
		Idempotency: func() IdempotencyStats {
			return IdempotencyStats{Claims: 5, InFlight: 1, StoreFull: 2, Entries: 4, Bytes: 1024}
		},
		Limiter: func() LimiterStats { return LimiterStats{Evicted: 3, Dropped: 1, CostMax: 64 << 20} },
		Upstreams: func() []UpstreamStats {
			return []UpstreamStats{{Name: "api", RetriesBudgetDenied: 9, Targets: []TargetStats{
				{URL: "http://10.0.0.1:80", State: "up", InFlight: 2},
				{URL: "http://10.0.0.2:80", State: "ejected", Ejections: 1},
			}}}
		},
	})
	_, s := scrape(t, m)
	want := map[string]float64{
		`cobaltgw_inflight_requests`:                                                                 7,
		`cobaltgw_idempotency_total{result="claimed"}`:                                               5,
		`cobaltgw_idempotency_total{result="in_flight"}`:                                             1,
		`cobaltgw_idempotency_total{result="store_full"}`:                                            2,
		`cobaltgw_idempotency_entries`:                                                               4,
		`cobaltgw_idempotency_bytes`:                                                                 1024,
		`cobaltgw_ratelimit_cache_evictions_total`:                                                   3,
		`cobaltgw_ratelimit_cache_dropped_total`:                                                     1,
		`cobaltgw_ratelimit_cache_max_bytes`:                                                         64 << 20,
		`cobaltgw_upstream_target_up{upstream="api",target="http://10.0.0.1:80"}`:                    1,
		`cobaltgw_upstream_target_up{upstream="api",target="http://10.0.0.2:80"}`:                    0,
		`cobaltgw_upstream_target_state{upstream="api",target="http://10.0.0.2:80",state="ejected"}`: 1,
		`cobaltgw_upstream_target_state{upstream="api",target="http://10.0.0.2:80",state="up"}`:      0,
		`cobaltgw_upstream_target_inflight_requests{upstream="api",target="http://10.0.0.1:80"}`:     2,
		`cobaltgw_upstream_target_ejections_total{upstream="api",target="http://10.0.0.2:80"}`:       1,
		`cobaltgw_upstream_retries_total{upstream="api",result="budget_denied"}`:                     9,
	}
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

// TestExpositionFormat checks the text format 0.0.4 rules a scraper
// relies on: HELP and TYPE once per family before its samples, samples of
// a family contiguous, valid names and escaped label values, cumulative
// histogram buckets ending in +Inf equal to _count.
func TestExpositionFormat(t *testing.T) {
	m := New(t0)
	m.ObserveRequest("/a\"b\\c\nd", []byte("GET"), 200, "", time.Millisecond, time.Millisecond, "api")
	m.ObserveRequest("/a", []byte("PUT"), 503, "upstream_timeout", 90*time.Second, 90*time.Second, "api")
	m.RateLimitRejected("p")
	m.SetSources(Sources{Inflight: func() int64 { return 0 }, Idempotency: func() IdempotencyStats { return IdempotencyStats{} }})
	text, _ := scrape(t, m)

	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\[\\"n]|[^\\"\n])*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$`)
	typed := map[string]string{}
	seen := map[string]bool{}
	current := ""
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if f, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(f, " ")
			if seen[name] {
				t.Fatalf("family %s appears twice", name)
			}
			seen[name], current = true, name
			continue
		}
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			if name != current {
				t.Fatalf("TYPE %s outside its family %s", name, current)
			}
			typed[name] = typ
			continue
		}
		g := sample.FindStringSubmatch(line)
		if g == nil {
			t.Fatalf("malformed sample line %q", line)
		}
		name := g[1]
		if typed[current] == "histogram" || typed[current] == "summary" {
			name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		}
		if name != current {
			t.Fatalf("sample %q outside its family %s", line, current)
		}
	}
	if !strings.Contains(text, `route="/a\"b\\c\nd"`) {
		t.Fatalf("label value not escaped:\n%s", text)
	}
	if !strings.Contains(text, `cobaltgw_request_duration_seconds_bucket{route="/a",le="60"} 0`) ||
		!strings.Contains(text, `cobaltgw_request_duration_seconds_bucket{route="/a",le="+Inf"} 1`) {
		t.Fatalf("a 90s request belongs only in +Inf:\n%s", text)
	}
}

func TestObserveRequestDoesNotAllocate(t *testing.T) {
	m := New(t0)
	get := []byte("GET")
	m.ObserveRequest("/v1/assets", get, 200, "", time.Millisecond, time.Millisecond, "api")
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest("/v1/assets", get, 200, "", time.Millisecond, time.Millisecond, "api")
	}); n != 0 {
		t.Fatalf("ObserveRequest allocates %v times per call", n)
	}
}

// TestConcurrentObserveAndScrape is for the race detector: new series,
// existing ones and scrapes at once, and no count lost.
func TestConcurrentObserveAndScrape(t *testing.T) {
	m := New(t0)
	const workers, each = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m.ObserveRequest(fmt.Sprintf("/r%d", i%7), []byte("GET"), 200+i%3, "", time.Millisecond, time.Millisecond, "api")
				if i%100 == 0 {
					var b bytes.Buffer
					_ = m.WritePrometheus(&b)
				}
			}
		}()
	}
	wg.Wait()
	_, s := scrape(t, m)
	if got := s[`cobaltgw_upstream_duration_seconds_count{upstream="api"}`]; got != workers*each {
		t.Fatalf("count = %v, want %d", got, workers*each)
	}
}
