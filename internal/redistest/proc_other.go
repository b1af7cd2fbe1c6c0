//go:build !linux

package redistest

import (
	"syscall"
	"time"
)

// sysProcAttr: only Linux can tie the child's life to the test binary;
// elsewhere t.Cleanup is the only stop.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// processCPU is not measured elsewhere.
func processCPU() (time.Duration, bool) { return 0, false }
