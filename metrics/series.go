package metrics

import (
	"strconv"
	"sync/atomic"
	"time"
)

// bounds are the upper bounds of the duration histograms' buckets. The
// gateway's own answers take tens of microseconds and a proxied request
// what its upstream takes, so the buckets run from 100µs to 60s (the
// longest sensible upstream timeout) in 1-2.5-5 steps: 18 buckets plus
// +Inf per series keeps a route's histogram at 19 atomic words.
var bounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	1 * time.Second, 2500 * time.Millisecond, 5 * time.Second,
	10 * time.Second, 30 * time.Second, 60 * time.Second,
}

// les are the bounds as Prometheus `le` label values, in seconds.
var les = func() (s [len(bounds)]string) {
	for i, b := range bounds {
		s[i] = strconv.FormatFloat(b.Seconds(), 'g', -1, 64)
	}
	return s
}()

// histogram is a Prometheus histogram of durations. Buckets are stored
// non-cumulatively (one atomic add per observation) and summed at scrape;
// the sum is kept in integer nanoseconds so it needs no CAS loop. The
// count is the sum of the buckets, so `_count` always equals the +Inf
// bucket even while observations race with a scrape.
type histogram struct {
	counts [len(bounds) + 1]atomic.Uint64
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// snapshot returns the cumulative bucket counts (the last is +Inf, the
// count) and the sum in seconds.
func (h *histogram) snapshot() (cum [len(bounds) + 1]uint64, sum float64) {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		cum[i] = n
	}
	return cum, float64(h.sumNs.Load()) / 1e9
}

// reqKey is the label set of cobaltgw_requests_total.
type reqKey struct {
	route, code string
	status      int32
	method      uint8
}

type reqSeries struct {
	key reqKey
	n   atomic.Uint64
}

type routeSeries struct {
	route string
	h     histogram
}

// upstreamSeries holds everything labelled by one upstream name.
type upstreamSeries struct {
	name string
	h    histogram
	errs [numKinds]atomic.Uint64
}

// namedCounter is a counter labelled by one name (a rate-limit policy).
type namedCounter struct {
	name string
	n    atomic.Uint64
}
