package idempotency

import (
	"sync"
	"time"
	"unsafe"
)

// A shard: a map from scope to a slot in a slab of entries (chunks with a
// free list), two expiry queues naming slots, and the byte accounting of
// all of it. The shard's methods run with its mutex held.

const (
	chunkLen = 16 // slab slots allocated (and charged) at a time
	// sweepBatch bounds the expired items one call pops from each queue, so
	// no request pays for a mass expiry; each call pushes at most one item,
	// so the sweep keeps up.
	sweepBatch = 16
	// shrinkMin: a shard is compacted when fewer than half its slots are
	// live and it has at least this many slots, or when it is empty.
	shrinkMin = 256
)

type entryState uint8

const (
	stFree      entryState = iota // slot on the free list
	stClaimed                     // lease outstanding, lives lock_timeout
	stCompleted                   // answered, data holds the response
	stUsed                        // answered without kept response, or abandoned
)

type entry struct {
	key   string // the map key, shared
	fp    Fingerprint
	exp   int64  // unix nanoseconds
	data  []byte // stCompleted: encodeResponse output, never modified
	token uint32 // per shard; unique among the claims of one key within lock_timeout
	next  int32  // free list link while stFree
	state entryState
}

type chunk [chunkLen]entry

type shard struct {
	mu       sync.Mutex
	m        map[string]int32 // scope → slot
	chunks   []*chunk
	free     int32 // first free slot, -1 when none
	claims   queue
	records  queue
	token    uint32
	counters counters
	_        [64]byte // keep neighbouring shards' mutexes off one cache line
}

// counters are per shard and updated under its mutex: no shared cache line
// on the hot path.
type counters struct {
	claims, inFlight, completed, replayable, mismatches, storeFull  uint64
	releases, abandons, leasesLost, late, responsesDropped, expired uint64
	overQuota                                                       uint64
}

// Costs, in bytes, charged to the budget. They over-estimate what the Go
// runtime really retains, so the budget is a bound on memory:
//
//   - slotCost per slab slot, charged when its chunk is allocated and
//     refunded when a compaction frees it: the entry, plus the map slot that
//     may point to it. A Go map does not shrink on delete, and its swiss
//     tables double when 7/8 full or when tombstones are under 10% of
//     capacity (internal/runtime/maps pruneTombstones), so capacity stays
//     below 2.6 slots per entry it ever held; compaction rebuilds the map.
//   - qitemSize per queue item until it is popped; a claim reserves the item
//     its record will need, so finishing a lease never needs budget it
//     cannot get.
//   - allocSize of each key and stored response, with allocator rounding.
var (
	mapSlotCost = int64(unsafe.Sizeof(struct {
		k string
		v int32
	}{})+1) * 13 / 5
	slotCost  = int64(unsafe.Sizeof(entry{})) + mapSlotCost
	chunkCost = chunkLen*slotCost + 2*int64(unsafe.Sizeof((*chunk)(nil)))
)

// qitemSize is an item's share of its block, allocator rounding included.
var qitemSize = allocSize(int(unsafe.Sizeof(qblock{})))/qblockLen + 1

// allocSize bounds the heap bytes of an n-byte allocation: size classes
// waste at most 1/8 (runtime/sizeclasses.go) above 16 bytes, large objects
// are rounded to 8 KiB pages.
func allocSize(n int) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 32<<10:
		return int64(n + n/8 + 16)
	}
	return int64(n + n/8 + 8<<10)
}

// entryCost is what a live entry holds besides its slot and queue items.
func entryCost(e *entry) int64 {
	return allocSize(len(e.key)) + stateCost(e)
}

// stateCost is the part of entryCost that changes with the state: the
// reserved record item of a claim, or the stored response.
func stateCost(e *entry) int64 {
	if e.state == stClaimed {
		return qitemSize
	}
	return allocSize(len(e.data))
}

func (s *shard) at(i int32) *entry { return &s.chunks[i/chunkLen][i%chunkLen] }

func (s *shard) slots() int { return len(s.chunks) * chunkLen }

// insert takes a free slot for key (growing the slab by a chunk, which the
// caller has charged, when none is free) and maps key to it.
func (s *shard) insert(key string) (int32, *entry) {
	if s.free < 0 {
		s.grow()
	}
	i := s.free
	e := s.at(i)
	s.free = e.next
	e.key, e.next = key, 0
	s.m[key] = i
	return i, e
}

func (s *shard) grow() {
	base := int32(s.slots())
	c := new(chunk)
	for j := chunkLen - 1; j >= 0; j-- {
		c[j].next = s.free
		s.free = base + int32(j)
	}
	s.chunks = append(s.chunks, c)
}

// remove unmaps slot i's key and puts the slot on the free list.
func (s *shard) remove(i int32) {
	e := s.at(i)
	delete(s.m, e.key)
	*e = entry{next: s.free}
	s.free = i
}

// sweep pops expired items (at most limit per queue, all if limit < 0) and
// removes the entries they expire, then compacts the shard if it became
// sparse. Called with s.mu held.
func (s *shard) sweep(m *Memory, t int64, limit int) {
	var refund int64
	removed := false
	for _, q := range [...]*queue{&s.claims, &s.records} {
		for n := 0; limit < 0 || n < limit; n++ {
			it, ok := q.peek()
			if !ok || it.exp > t {
				break
			}
			q.pop()
			refund += qitemSize
			// The slot may have moved on (completed, or released and
			// reused); only its entry's own expiry counts.
			if e := s.at(it.slot); e.state != stFree && e.exp <= t {
				refund += entryCost(e)
				m.quota.expire(m, e.key, e.exp)
				s.remove(it.slot)
				s.counters.expired++
				removed = true
			}
		}
	}
	// A full sweep (the budget is short) also gives back the chunks of
	// shards emptied by releases; a routine one only follows its removals.
	sparse := len(s.m) == 0 && len(s.chunks) > 0 || s.slots() >= shrinkMin && len(s.m) < s.slots()/2
	if sparse && (removed || limit < 0) {
		refund += s.compact()
	}
	if refund != 0 {
		m.used.Add(-refund)
	}
}

// compact moves the live entries into a slab and a map sized for them, so a
// shard's memory follows its entries down after a peak, and returns the
// bytes freed. Queue items follow their slots; items of free slots go.
func (s *shard) compact() (refund int64) {
	n := len(s.m)
	old, oldSlots := s.chunks, s.slots()
	s.chunks, s.free = make([]*chunk, 0, (n+chunkLen-1)/chunkLen), -1
	s.m = make(map[string]int32, n)
	moved := make([]int32, oldSlots)
	for oi := range oldSlots {
		e := &old[oi/chunkLen][oi%chunkLen]
		if e.state == stFree {
			moved[oi] = -1
			continue
		}
		i, ne := s.insert(e.key)
		*ne = *e
		ne.next = 0
		moved[oi] = i
	}
	remap := func(it qitem) (qitem, bool) {
		it.slot = moved[it.slot]
		return it, it.slot >= 0
	}
	dropped := s.claims.rewrite(remap) + s.records.rewrite(remap)
	return int64(dropped)*qitemSize + int64(len(old)-len(s.chunks))*chunkCost
}

// fullSweepEvery spaces the full sweeps of a store that stays full: one
// locks all 64 shards, and an entry can only be late by this much.
const fullSweepEvery = int64(time.Millisecond)

// fullSweepDue reports whether this caller should sweep every shard before
// refusing a claim at t: not when another did within fullSweepEvery.
func (m *Memory) fullSweepDue(t int64) bool {
	last := m.lastFullSweep.Load()
	if t >= last && t-last < fullSweepEvery {
		return false
	}
	return m.lastFullSweep.CompareAndSwap(last, t)
}

func (m *Memory) sweepAll(t int64) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(m, t, -1)
		s.mu.Unlock()
	}
}
