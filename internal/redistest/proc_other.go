//go:build !linux

package redistest

import "syscall"

// sysProcAttr: only Linux can tie the child's life to the test binary;
// elsewhere t.Cleanup is the only stop.
func sysProcAttr() *syscall.SysProcAttr { return nil }
