package idempotency

import (
	"errors"
	"runtime"
	"strconv"
	"testing"
)

// budgetSlack is the memory the store may hold beyond its budget: the
// shards, one map directory and a few partly filled queue blocks per shard
// (2 queues × up to 3 blocks of 64 items), which do not grow with entries.
const budgetSlack = 2 << 20

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryStaysWithinBudget claims 1,000,000 distinct keys against a
// 64 MiB budget, completing each claimed one with a small response (replay
// mode, so responses are kept): the heap the store retains stays within the
// budget plus budgetSlack, and past the budget claims fail with ErrStoreFull.
func TestMemoryStaysWithinBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 100 MB; skipped with -short")
	}
	const keys = 1_000_000
	cfg := DefaultConfig()
	cfg.OnReuse = ModeReplay
	cfg.MemoryBudget = 64 << 20
	cfg.MaxKeysPerClient = 0 // one client fills the store here; quotas have their own tests

	before := heapAfterGC()
	m := newMemory(t, cfg)
	resp := created()
	scope := make([]byte, 0, 128)
	key := make([]byte, 0, 40)
	claimed, full := 0, 0
	for i := range keys {
		key = append(strconv.AppendInt(key[:0], int64(i), 10), "-f81d4fae-7dec-11d0-a765"...)
		scope = AppendScope(scope[:0], CredentialToken, "client-a", nil, []byte("POST"), "/v1/assets", key)
		r, err := m.Claim(ctx, t0, scope, fpA)
		if errors.Is(err, ErrStoreFull) {
			full++
			continue
		}
		if err != nil || r.State != StateClaimed {
			t.Fatalf("key %d: %+v, %v", i, r, err)
		}
		claimed++
		if err := m.Complete(ctx, t0, r.Lease, resp); err != nil {
			t.Fatal(err)
		}
	}
	after := heapAfterGC()
	st := m.Stats()
	runtime.KeepAlive(m)

	held := int64(after) - int64(before)
	t.Logf("%d keys: %d claimed, %d refused (ErrStoreFull); accounted %.1f MiB of %.0f MiB; heap held %.1f MiB (%.0f B per entry, %.0f B accounted per entry); %d responses dropped",
		keys, claimed, full, mib(st.Bytes), mib(cfg.MemoryBudget), mib(held),
		float64(held)/float64(claimed), float64(st.Bytes)/float64(claimed), st.ResponsesDropped)
	if full == 0 || st.StoreFull != uint64(full) {
		t.Fatalf("no claim was refused past the budget (stats %+v)", st)
	}
	if st.Bytes > cfg.MemoryBudget {
		t.Fatalf("accounted %d bytes, over the budget %d", st.Bytes, cfg.MemoryBudget)
	}
	if held > cfg.MemoryBudget+budgetSlack {
		t.Fatalf("heap held %.1f MiB, over budget + slack %.1f MiB", mib(held), mib(cfg.MemoryBudget+budgetSlack))
	}
	if st.Entries != int64(claimed) {
		t.Fatalf("%d entries, %d claimed", st.Entries, claimed)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
