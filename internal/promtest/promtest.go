// Package promtest reads the Prometheus text exposition in tests (the
// metrics package's own and the end-to-end /metrics scrapes), so both
// name a series the same way.
package promtest

import (
	"fmt"
	"strconv"
	"strings"
)

// Samples returns the samples of a text exposition by series (name and
// labels as written), each under every order of its labels (SeriesKeys).
// Comment and empty lines are skipped; a sample whose value does not parse
// is an error.
func Samples(text string) (map[string]float64, error) {
	samples := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("sample %q: %w", line, err)
		}
		for _, k := range SeriesKeys(line[:i]) {
			samples[k] = v
		}
	}
	return samples, nil
}

// SeriesKeys lists the series key under every order of its labels, so a
// test can name a series in any order (client_golang writes them sorted).
func SeriesKeys(series string) []string {
	name, rest, ok := strings.Cut(series, "{")
	if !ok {
		return []string{series}
	}
	labels := strings.Split(strings.TrimSuffix(rest, "}"), ",")
	var out []string
	var permute func(k int)
	permute = func(k int) {
		if k == len(labels) {
			out = append(out, name+"{"+strings.Join(labels, ",")+"}")
			return
		}
		for i := k; i < len(labels); i++ {
			labels[k], labels[i] = labels[i], labels[k]
			permute(k + 1)
			labels[k], labels[i] = labels[i], labels[k]
		}
	}
	permute(0)
	return out
}
