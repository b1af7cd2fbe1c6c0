//go:build !unix

package schema

import "testing"

type cpuTimer struct{}

func startCPU(b *testing.B) *cpuTimer { b.ResetTimer(); return &cpuTimer{} }

func (*cpuTimer) stop(b *testing.B) { b.StopTimer() }
