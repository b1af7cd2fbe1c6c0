//go:build unix

package schema

import (
	"syscall"
	"testing"
	"time"
)

// cpuTimer reports the process CPU time per operation ("cpu-ns/op", user +
// system, GC workers included) beside the wall-clock ns/op. On a machine
// shared with other work, wall-clock time counts the time the benchmark
// waited for a core; CPU time does not, so it is the steadier figure to
// compare between runs.
type cpuTimer struct{ start time.Duration }

func startCPU(b *testing.B) *cpuTimer {
	b.Helper()
	b.ResetTimer()
	return &cpuTimer{start: processCPU()}
}

func (t *cpuTimer) stop(b *testing.B) {
	b.Helper()
	b.StopTimer()
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-t.start)/float64(b.N), "cpu-ns/op")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
