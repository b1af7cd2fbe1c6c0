package metrics

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
)

// Sources are read at scrape time, never on the request path. Any field
// may be nil: its families are then left out. The value types mirror the
// Stats of packages idempotency, limiter and upstream field for field;
// this package takes plain values so that it depends on none of them.
type Sources struct {
	Inflight    func() int64            // (*proxy.Gateway).Inflight
	Idempotency func() IdempotencyStats // from (*proxy.Gateway).IdempotencyStats
	Limiter     func() LimiterStats     // from the rate limiter's Stats
	Upstreams   func() []UpstreamStats  // from each running pool's Stats, in a stable order
	Streams     func() StreamStats      // from (*proxy.Gateway).StreamStats
}

// StreamStats mirrors proxy.StreamStats.
type StreamStats struct {
	Aborted uint64 // upstream bodies cut after the response head went out
	Tunnels int64  // open WebSocket tunnels
}

// IdempotencyStats mirrors idempotency.Stats.
type IdempotencyStats struct {
	Claims, InFlight, Completed, Replayable, Mismatches, StoreFull uint64
	Releases, Abandons, LeasesLost, LateCompletions                uint64
	ResponsesDropped, Expired                                      uint64
	Entries, Bytes                                                 int64
}

// LimiterStats mirrors limiter.Stats.
type LimiterStats struct {
	Created, Recovered, Dropped, Rejected, Evicted, Adopted uint64
	CostUsed, CostMax                                       int64
	// With store.backend = "redis".
	RedisCalls, RedisErrors, Fallbacks, NearLimit uint64
}

// UpstreamStats mirrors upstream.Stats.
type UpstreamStats struct {
	Name                                          string
	Targets                                       []TargetStats
	RetriesOK, RetriesFailed, RetriesBudgetDenied uint64
	// Panic: fewer than panic_threshold of the targets in rotation.
	Panic                     bool
	PanicRequests, StaleConns uint64
}

// TargetStats mirrors upstream.TargetStats (the fields metrics use).
type TargetStats struct {
	URL       string
	State     string // "up", "ejected" (passive) or "down" (active checks)
	InFlight  int64
	Ejections uint64
}

// targetStates are the values of TargetStats.State.
var targetStates = [...]string{"up", "ejected", "down"}

// SetSources installs the scrape-time sources; it may be called again
// (the last call wins).
func (m *Metrics) SetSources(s Sources) { m.sources.Store(&s) }

// Describe sends nothing: the gateway's series depend on the traffic, so
// Metrics is an unchecked collector (prometheus.Collector).
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series of the gateway, read from the atomics and
// Sources at scrape time (prometheus.Collector). Label combinations that
// never happened have no series.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	x := expo{ch: ch}
	m.writeRequests(&x)
	m.writeUpstreams(&x)
	m.writeStores(&x)
	m.writeReloads(&x)
}

// Registry is what /metrics serves: the gateway's series, the standard
// process and Go runtime collectors, and cobaltgw_build_info.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func newRegistry(m *Metrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cobaltgw_build_info",
		Help: "Always 1; the labels name the running build: version (stamped, module or VCS revision) and goversion.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(buildinfo.Version(), buildinfo.GoVersion()).Set(1)
	reg.MustRegister(m, build,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	return reg
}

// WritePrometheus writes the registry in the text exposition format
// (version 0.0.4), for tests and tools; /metrics negotiates the format
// through promhttp.
func (m *Metrics) WritePrometheus(w io.Writer) error {
	fams, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("encoding metrics: %w", err)
		}
	}
	return nil
}

func (m *Metrics) writeRequests(x *expo) {
	m.mu.Lock()
	reqs := mapValues(m.reqs)
	routes := mapValues(m.routes)
	m.mu.Unlock()
	slices.SortFunc(reqs, func(a, b *reqSeries) int {
		return cmpKeys(a.key, b.key)
	})
	slices.SortFunc(routes, func(a, b *routeSeries) int { return strings.Compare(a.route, b.route) })

	x.family("cobaltgw_requests_total", "counter", "Requests answered, by matched route (configured path), method, status and reason code (\"\" for a success passed through).")
	for _, s := range reqs {
		if s.n.Load() == 0 {
			continue // a handle made but never counted (the overflow route)
		}
		k := s.key
		x.uint("cobaltgw_requests_total", s.n.Load(), "route", k.route, "method", methods[k.method], "status", strconv.Itoa(int(k.status)), "code", k.code)
	}
	x.family("cobaltgw_request_duration_seconds", "histogram", "Time from reading a request to finishing its response, by route.")
	for _, s := range routes {
		if cum, _ := s.h.snapshot(); cum[len(cum)-1] == 0 {
			continue
		}
		x.histogram("cobaltgw_request_duration_seconds", &s.h, "route", s.route)
	}
	if src := m.src(); src.Inflight != nil {
		x.family("cobaltgw_inflight_requests", "gauge", "Requests being served now.")
		x.int("cobaltgw_inflight_requests", src.Inflight())
	}
	x.family("cobaltgw_ratelimit_rejections_total", "counter", "Requests refused with 429, by the policy that refused (the first in the route's order when several did).")
	rej := mapValues(*m.rejections.Load())
	slices.SortFunc(rej, func(a, b *namedCounter) int { return strings.Compare(a.name, b.name) })
	for _, c := range rej {
		x.uint("cobaltgw_ratelimit_rejections_total", c.n.Load(), "policy", c.name)
	}
}

func (m *Metrics) writeUpstreams(x *expo) {
	m.mu.Lock()
	ups := mapValues(m.upstreams)
	m.mu.Unlock()
	slices.SortFunc(ups, func(a, b *upstreamSeries) int { return strings.Compare(a.name, b.name) })

	x.family("cobaltgw_upstream_duration_seconds", "histogram", "Time waiting for an upstream (connect, send, response), by upstream.")
	for _, s := range ups {
		x.histogram("cobaltgw_upstream_duration_seconds", &s.h, "upstream", s.name)
	}
	x.family("cobaltgw_upstream_errors_total", "counter", "Requests to an upstream that ended in an error, by kind: unavailable, timeout, bad_response, error_status (the upstream answered 5xx).")
	for _, s := range ups {
		for k := range numKinds {
			if s.errs[k].Load() == 0 {
				continue
			}
			x.uint("cobaltgw_upstream_errors_total", s.errs[k].Load(), "upstream", s.name, "kind", kindNames[k])
		}
	}
	src := m.src()
	if src.Upstreams == nil {
		return
	}
	pools := src.Upstreams()
	x.family("cobaltgw_upstream_target_up", "gauge", "1 when the target is in rotation, 0 when ejected or down.")
	for _, p := range pools {
		for _, t := range p.Targets {
			x.bool("cobaltgw_upstream_target_up", t.State == "up", "upstream", p.Name, "target", t.URL)
		}
	}
	x.family("cobaltgw_upstream_target_state", "gauge", "The target's state (up, ejected by passive checks, down by active checks): 1 for the current one.")
	for _, p := range pools {
		for _, t := range p.Targets {
			for _, st := range targetStates {
				x.bool("cobaltgw_upstream_target_state", t.State == st, "upstream", p.Name, "target", t.URL, "state", st)
			}
		}
	}
	x.family("cobaltgw_upstream_target_inflight_requests", "gauge", "Requests in flight to the target.")
	for _, p := range pools {
		for _, t := range p.Targets {
			x.int("cobaltgw_upstream_target_inflight_requests", t.InFlight, "upstream", p.Name, "target", t.URL)
		}
	}
	x.family("cobaltgw_upstream_target_ejections_total", "counter", "Passive ejections of the target (outlier detection).")
	for _, p := range pools {
		for _, t := range p.Targets {
			x.uint("cobaltgw_upstream_target_ejections_total", t.Ejections, "upstream", p.Name, "target", t.URL)
		}
	}
	x.family("cobaltgw_upstream_retries_total", "counter", "Retries (a connect failure, or an idempotent request whose connection closed before any response byte), by result: ok (got an answer), failed, budget_denied (the retry budget refused).")
	for _, p := range pools {
		x.uint("cobaltgw_upstream_retries_total", p.RetriesOK, "upstream", p.Name, "result", "ok")
		x.uint("cobaltgw_upstream_retries_total", p.RetriesFailed, "upstream", p.Name, "result", "failed")
		x.uint("cobaltgw_upstream_retries_total", p.RetriesBudgetDenied, "upstream", p.Name, "result", "budget_denied")
	}
	x.family("cobaltgw_upstream_panic", "gauge", "1 while fewer than panic_threshold of the upstream's targets are in rotation and requests are balanced over all of them.")
	for _, p := range pools {
		x.bool("cobaltgw_upstream_panic", p.Panic, "upstream", p.Name)
	}
	x.family("cobaltgw_upstream_panic_requests_total", "counter", "Requests balanced over all targets because the upstream was in panic mode.")
	for _, p := range pools {
		x.uint("cobaltgw_upstream_panic_requests_total", p.PanicRequests, "upstream", p.Name)
	}
	x.family("cobaltgw_upstream_stale_connections_total", "counter", "Pooled keep-alive connections found closed by the upstream before a request was written on them; the request went out on another connection (not a retry).")
	for _, p := range pools {
		x.uint("cobaltgw_upstream_stale_connections_total", p.StaleConns, "upstream", p.Name)
	}
}

func (m *Metrics) writeStores(x *expo) {
	src := m.src()
	if src.Idempotency != nil {
		s := src.Idempotency()
		x.family("cobaltgw_idempotency_total", "counter", "Idempotency-Key claims, by result: claimed (first use, forwarded), in_flight (409), completed (a record exists: 409, replay or 422), store_full (no memory for the claim or record: 503).")
		x.uint("cobaltgw_idempotency_total", s.Claims, "result", "claimed")
		x.uint("cobaltgw_idempotency_total", s.InFlight, "result", "in_flight")
		x.uint("cobaltgw_idempotency_total", s.Completed, "result", "completed")
		x.uint("cobaltgw_idempotency_total", s.StoreFull, "result", "store_full")
		x.counter("cobaltgw_idempotency_replayable_total", "Completed keys found with a stored response and the same fingerprint.", s.Replayable)
		x.counter("cobaltgw_idempotency_fingerprint_mismatches_total", "Keys reused with a different request (method, path, query or body).", s.Mismatches)
		x.counter("cobaltgw_idempotency_released_total", "Claims released because the upstream was never reached (a retry may go through).", s.Releases)
		x.counter("cobaltgw_idempotency_abandoned_total", "Claims kept until ttl because the outcome was unknown (timeout, reset).", s.Abandons)
		x.counter("cobaltgw_idempotency_leases_lost_total", "Settlements that found another holder of the key.", s.LeasesLost)
		x.counter("cobaltgw_idempotency_late_completions_total", "Requests that finished after their claim expired: lock_timeout is too short.", s.LateCompletions)
		x.counter("cobaltgw_idempotency_responses_dropped_total", "Records kept without their response (too large or over the memory budget): a replay is then impossible.", s.ResponsesDropped)
		x.counter("cobaltgw_idempotency_expired_total", "Entries dropped at expiry.", s.Expired)
		x.gauge("cobaltgw_idempotency_entries", "Live idempotency entries (claims and records).", s.Entries)
		x.gauge("cobaltgw_idempotency_bytes", "Bytes accounted to idempotency entries, at most half of store.memory_budget.", s.Bytes)
	}
	if src.Streams != nil {
		s := src.Streams()
		x.counter("cobaltgw_stream_truncated_total", "Responses whose upstream body failed after the head went to the client; the client connection was closed so the truncation shows.", s.Aborted)
		x.gauge("cobaltgw_websocket_tunnels", "Open WebSocket tunnels.", s.Tunnels)
	}
	if src.Limiter != nil {
		s := src.Limiter()
		x.counter("cobaltgw_ratelimit_buckets_created_total", "Token buckets created: a key seen first, or after its state was forgotten.", s.Created)
		x.counter("cobaltgw_ratelimit_buckets_recovered_total", "Cache misses answered from the side table of recently evicted buckets.", s.Recovered)
		x.counter("cobaltgw_ratelimit_buckets_adopted_total", "Evicted buckets folded into one created meanwhile for the same key.", s.Adopted)
		x.counter("cobaltgw_ratelimit_cache_dropped_total", "Bucket writes dropped because the cache's write buffer was full.", s.Dropped)
		x.counter("cobaltgw_ratelimit_cache_rejected_total", "Bucket writes refused by the cache's admission policy.", s.Rejected)
		x.counter("cobaltgw_ratelimit_cache_evictions_total", "Buckets evicted from the cache to stay within the memory budget.", s.Evicted)
		x.gauge("cobaltgw_ratelimit_cache_bytes", "Bytes of resident token buckets.", s.CostUsed)
		x.gauge("cobaltgw_ratelimit_cache_max_bytes", "The bound on resident token buckets (half of store.memory_budget).", s.CostMax)
		x.counter("cobaltgw_ratelimit_redis_calls_total", "Rate-limit scripts sent to Redis (store.backend = \"redis\").", s.RedisCalls)
		x.counter("cobaltgw_ratelimit_redis_errors_total", "Rate-limit scripts that failed (timeout, connection refused, cluster down).", s.RedisErrors)
		x.counter("cobaltgw_ratelimit_store_fallbacks_total", "Rate-limit decisions made by rate_limit_on_store_error instead of Redis.", s.Fallbacks)
		x.counter("cobaltgw_ratelimit_near_limit_refusals_total", "Refusals answered from the near-limit cache without a Redis round trip.", s.NearLimit)
	}
}

func (m *Metrics) writeReloads(x *expo) {
	x.family("cobaltgw_config_reloads_total", "counter", "Configuration reloads (SIGHUP or file change), by result: ok, error (the running config kept serving).")
	x.uint("cobaltgw_config_reloads_total", m.reloadsOK.Load(), "result", "ok")
	x.uint("cobaltgw_config_reloads_total", m.reloadsFailed.Load(), "result", "error")
	x.family("cobaltgw_config_last_reload_successful", "gauge", "1 when the last reload attempt (or the start) succeeded.")
	x.bool("cobaltgw_config_last_reload_successful", m.lastReloadOK.Load())
	x.gauge("cobaltgw_config_last_reload_success_timestamp_seconds", "Unix time of the last successful load of the configuration.", m.lastReloadSuccess.Load())
}

func (m *Metrics) src() Sources {
	if s := m.sources.Load(); s != nil {
		return *s
	}
	return Sources{}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func cmpKeys(a, b reqKey) int {
	if c := strings.Compare(a.route, b.route); c != 0 {
		return c
	}
	if c := strings.Compare(methods[a.method], methods[b.method]); c != 0 {
		return c
	}
	if a.status != b.status {
		return int(a.status - b.status)
	}
	return strings.Compare(a.code, b.code)
}
