package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// expo turns the gateway's atomics into prometheus/client_golang constant
// metrics at scrape time (the Collect of Metrics): family sets the name,
// type and help of the samples that follow, each sample becomes one
// const metric. The hot path never touches the client library.
type expo struct {
	ch   chan<- prometheus.Metric
	name string
	typ  prometheus.ValueType
	help string
}

func (x *expo) family(name, typ, help string) {
	x.name, x.help = name, help
	x.typ = prometheus.UntypedValue
	switch typ {
	case "counter":
		x.typ = prometheus.CounterValue
	case "gauge":
		x.typ = prometheus.GaugeValue
	}
}

// desc is the descriptor of a series of the current family with the
// label pairs given (names at even indexes).
func (x *expo) desc(labels []string) (*prometheus.Desc, []string) {
	names := make([]string, 0, len(labels)/2)
	values := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	return prometheus.NewDesc(x.name, x.help, names, nil), values
}

func (x *expo) float(name string, v float64, labels ...string) {
	d, vals := x.desc(labels)
	x.ch <- prometheus.MustNewConstMetric(d, x.typ, v, vals...)
}

func (x *expo) uint(name string, v uint64, labels ...string) { x.float(name, float64(v), labels...) }

func (x *expo) int(name string, v int64, labels ...string) { x.float(name, float64(v), labels...) }

func (x *expo) bool(name string, v bool, labels ...string) {
	n := 0.0
	if v {
		n = 1
	}
	x.float(name, n, labels...)
}

// counter and gauge write a whole family of one unlabelled sample.
func (x *expo) counter(name, help string, v uint64) {
	x.family(name, "counter", help)
	x.uint(name, v)
}

func (x *expo) gauge(name, help string, v int64) {
	x.family(name, "gauge", help)
	x.int(name, v)
}

// histogram writes one histogram series of the current family.
func (x *expo) histogram(name string, h *histogram, labels ...string) {
	cum, sum := h.snapshot()
	buckets := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		buckets[b.Seconds()] = cum[i]
	}
	d, vals := x.desc(labels)
	x.ch <- prometheus.MustNewConstHistogram(d, cum[len(cum)-1], sum, buckets, vals...)
}
