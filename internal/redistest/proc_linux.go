package redistest

import (
	"syscall"
	"time"
)

// sysProcAttr kills redis-server when the test binary dies without running
// its cleanups (a panic, a timeout, SIGKILL), so no server outlives a run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// processCPU is the CPU time (user and system) this process has used so
// far: the client's side of a benchmark, redis-server being another
// process.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
