package config

import (
	"slices"

	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/tracing"
)

// observability checks [tracing] and [errors.details] by the rules of the
// packages that use them (tracing, contract).
func (v *validator) observability() {
	levels := make([]string, len(LogLevels))
	for i, l := range LogLevels {
		levels[i] = string(l)
	}
	v.oneOf("log.level", string(v.cfg.Log.Level), levels...)
	t := &v.cfg.Tracing
	if err := tracing.CheckEndpoint(t.Endpoint); err != nil {
		v.errf("tracing.endpoint", "%v", err)
	}
	if err := tracing.CheckSampleRatio(t.SampleRatio); err != nil {
		v.errf("tracing.sample_ratio", "%v", err)
	}
	if err := tracing.CheckServiceName(t.ServiceName); err != nil {
		v.errf("tracing.service_name", "%v", err)
	}
	known := contract.DetailCodes()
	for code, s := range v.cfg.Errors.Details {
		path := "errors.details." + code
		if _, ok := slices.BinarySearch(known, code); !ok {
			if best := closest(code, known); best != "" {
				v.errf(path, "%q is not a reason code; did you mean %q?", code, best)
			} else {
				v.errf(path, "%q is not a reason code; write one of the codes listed in docs/operations.md", code)
			}
			continue
		}
		if err := contract.CheckDetail(s); err != nil {
			v.errf(path, "%v", err)
		}
	}
}

// closest is the candidate nearest to s by edit distance, if it is close
// enough to be a typo.
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
