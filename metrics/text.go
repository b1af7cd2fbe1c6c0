package metrics

import (
	"strconv"
	"strings"
)

// expo builds a Prometheus text exposition (format 0.0.4): per family a
// HELP and a TYPE line, then its samples, `name{label="value",...} value`.
// Label values escape backslash, double quote and line feed; HELP text
// escapes backslash and line feed.
type expo struct{ b []byte }

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func (x *expo) family(name, typ, help string) {
	x.b = append(x.b, "# HELP "...)
	x.b = append(x.b, name...)
	x.b = append(x.b, ' ')
	x.b = append(x.b, helpEscaper.Replace(help)...)
	x.b = append(x.b, "\n# TYPE "...)
	x.b = append(x.b, name...)
	x.b = append(x.b, ' ')
	x.b = append(x.b, typ...)
	x.b = append(x.b, '\n')
}

// series writes `name{k="v",...} ` (labels given as pairs).
func (x *expo) series(name string, labels []string) {
	x.b = append(x.b, name...)
	if len(labels) > 0 {
		x.b = append(x.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				x.b = append(x.b, ',')
			}
			x.b = append(x.b, labels[i]...)
			x.b = append(x.b, `="`...)
			x.b = appendLabelValue(x.b, labels[i+1])
			x.b = append(x.b, '"')
		}
		x.b = append(x.b, '}')
	}
	x.b = append(x.b, ' ')
}

func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func (x *expo) uint(name string, v uint64, labels ...string) {
	x.series(name, labels)
	x.b = strconv.AppendUint(x.b, v, 10)
	x.b = append(x.b, '\n')
}

func (x *expo) int(name string, v int64, labels ...string) {
	x.series(name, labels)
	x.b = strconv.AppendInt(x.b, v, 10)
	x.b = append(x.b, '\n')
}

func (x *expo) float(name string, v float64, labels ...string) {
	x.series(name, labels)
	x.b = strconv.AppendFloat(x.b, v, 'g', -1, 64)
	x.b = append(x.b, '\n')
}

func (x *expo) bool(name string, v bool, labels ...string) {
	n := int64(0)
	if v {
		n = 1
	}
	x.int(name, n, labels...)
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

// histogram writes the _bucket, _sum and _count samples of one series.
func (x *expo) histogram(name string, h *histogram, labels ...string) {
	cum, sum := h.snapshot()
	with := append(labels[:len(labels):len(labels)], "le", "")
	for i := range cum {
		with[len(with)-1] = "+Inf"
		if i < len(les) {
			with[len(with)-1] = les[i]
		}
		x.uint(name+"_bucket", cum[i], with...)
	}
	x.float(name+"_sum", sum, labels...)
	x.uint(name+"_count", cum[len(cum)-1], labels...)
}
