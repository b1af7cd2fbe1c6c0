package limiter

import (
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// memorySlack is what the heap may hold above the budget after a GC: the
// test's own allocations and runtime noise.
const memorySlack = 2 << 20

// TestMemoryBudget sends 1,000,000 distinct client addresses through a
// Limiter with a 32MiB budget and checks the live heap stays within the
// budget plus memorySlack.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocates 1M buckets; skipped under -short and -race")
	}
	const (
		budget = 32 << 20
		keys   = 1_000_000
	)
	base := liveHeap()
	l := newLimiter(t, budget)
	rt := newRoute(t, ipPolicy("per_ip", 1, 10))
	var d Decision
	s := &Subject{}
	var a [4]byte
	start := time.Now()
	for i := range keys {
		binary.BigEndian.PutUint32(a[:], uint32(i)+1<<24)
		s.Addr = netip.AddrFrom4(a)
		if !l.Check(t0, rt, PreAuth, s, &d) {
			t.Fatalf("key %d refused on its first request", i)
		}
	}
	elapsed := time.Since(start)
	l.wait()
	heap := liveHeap() - base
	st := l.Stats()
	t.Logf("%d keys in %v (%v/key): live heap %.1f MiB for a budget of %.0f MiB; resident cost %.1f of %.1f MiB (~%d buckets), side table %d per shard generation",
		keys, elapsed.Round(time.Millisecond), elapsed/keys, float64(heap)/(1<<20), float64(budget)/(1<<20),
		float64(st.CostUsed)/(1<<20), float64(st.CostMax)/(1<<20), st.CostUsed/entryCost, l.sideCap)
	t.Logf("stats: %+v", st)
	if heap > budget+memorySlack {
		t.Fatalf("live heap %d bytes exceeds budget %d + %d", heap, budget, memorySlack)
	}
	runtime.KeepAlive(l)
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
