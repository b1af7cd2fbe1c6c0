package redistest

import "syscall"

// sysProcAttr kills redis-server when the test binary dies without running
// its cleanups (a panic, a timeout, SIGKILL), so no server outlives a run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
