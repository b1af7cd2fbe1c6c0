package redistest

import (
	"strconv"
	"strings"
	"testing"
)

// CommandCounts sums the calls in INFO commandstats: every command Redis
// executed (those run inside scripts included, INFO itself excluded), and
// the script calls (EVAL, EVALSHA) apart, which are the round trips.
func (s *Server) CommandCounts() (cmds, scripts int64, err error) {
	info, err := s.Do("INFO", "commandstats")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":calls=")
		if !ok || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		cmds += n
		if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
			scripts += n
		}
	}
	return cmds, scripts, nil
}

// ReportRedis runs a benchmark body and reports, besides ns/op and
// allocations, what each operation cost Redis: round-trips/op (script
// calls), redis-cmds/op and, on Linux, client-cpu-ns/op: the CPU time
// (user and system, every thread) the benchmark process spent per
// operation, which a machine loaded by other work distorts less than
// ns/op (wall time).
func ReportRedis(b *testing.B, srv *Server, run func()) {
	b.Helper()
	cmds0, scripts0, err := srv.CommandCounts()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	run()
	b.StopTimer()
	if cpu, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "client-cpu-ns/op")
	}
	cmds, scripts, err := srv.CommandCounts()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(scripts-scripts0)/float64(b.N), "round-trips/op")
	b.ReportMetric(float64(cmds-cmds0)/float64(b.N), "redis-cmds/op")
}
