package limiter

import (
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Memory accounting, in bytes of Go heap, so that memory_budget bounds the
// live heap of the limiter. Measured with go1.26 on amd64 by sending 1M
// distinct keys through budgets of 1–64MiB (TestMemoryBudget keeps the
// 32MiB case).
const (
	// bucketBytes: the bucket struct (56, in the 64-byte size class).
	bucketBytes = 64
	// entryCost is what one resident bucket costs: the bucket, its slot in
	// ristretto's sharded map (key + storeItem: 57 bytes with the control
	// byte) and in its policy's key→cost map (17 bytes), each divided by
	// the load the Go maps run at under churn (between about 1/4 and 7/8;
	// the 256 shards are small at small budgets). Measured: 230–330.
	entryCost = bucketBytes + 224 + 48
	// sideEntryBytes is a side-table slot (map[uint64]*bucket, 17 bytes at
	// the map's load) plus the bucket itself when it is not also resident.
	// Measured: about 70.
	sideEntryBytes = 48 + bucketBytes
	// countersPerEntry TinyLFU counters per resident bucket (ristretto
	// advises 10x); each costs 4 bytes: 2 in the count-min sketch (4 rows of
	// 4 bits) and 2 in the doorkeeper bloom filter (rounded to a power of 2).
	countersPerEntry = 8
	counterBytes     = 4
	// fixedBytes: ristretto's set buffer (32Ki pointers), its 256 map
	// shards and ring buffers, and the side table's empty maps. Measured:
	// about 300KiB.
	fixedBytes = 512 << 10
	// sideShards stripes the side table's lock.
	sideShards = 64
	// MinBudget is the smallest memory budget New accepts.
	MinBudget = 1 << 20
)

// Limiter holds the token buckets of every (policy, key) pair seen, within a
// memory budget. It is safe for concurrent use; create it once per process
// (it survives reloads) with New, and Close it on shutdown.
type Limiter struct {
	cache   *ristretto.Cache[uint64, *bucket]
	side    [sideShards]sideShard
	sideCap int // entries per side-shard generation

	mu     sync.Mutex // guards states
	states map[string]*policyState

	created, recovered, dropped, rejected, evicted, adopted atomic.Uint64
	closing                                                 atomic.Bool

	// Shared buckets (redis.go): nil while the buckets are in memory.
	redis                                         atomic.Pointer[redisBackend]
	redisCalls, redisErrors, fallbacks, nearLimit atomic.Uint64
	lastErr                                       atomic.Pointer[error]
	// clock is the latest time (UnixNano) a cache miss was handled at, the
	// "now" of evictions, which ristretto reports without one. Misses are
	// what cause evictions, so it is current when it matters, and the hot
	// path (a hit) never writes it.
	clock atomic.Int64
}

// sideShard is one stripe of the side table: buckets that were created but
// may not be in the cache yet (ristretto applies Sets asynchronously), that
// TinyLFU refused to admit, or that it evicted before they refilled. Two
// generations: cur fills up to sideCap, then becomes old and the previous
// old is forgotten; a hit in old moves the bucket back to cur. A key used
// at least once per generation (counted in buckets entering the shard)
// therefore never loses its bucket while it is out of the cache.
type sideShard struct {
	mu       sync.Mutex
	cur, old map[uint64]*bucket
	_        [40]byte // keep shards on separate cache lines
}

// New returns a Limiter whose buckets, cache bookkeeping and side table are
// bounded by budget bytes of live heap (docs/configuration.md `store.memory_budget`).
func New(budget int64) (*Limiter, error) {
	if budget < MinBudget {
		return nil, fmt.Errorf("limiter: memory budget %d bytes is below the minimum of %d (1MiB)", budget, MinBudget)
	}
	// One eighth for the side table, the rest for ristretto: counters and
	// resident buckets.
	side := budget / 8
	main := budget - side - fixedBytes
	entries := main / (entryCost + countersPerEntry*counterBytes)
	counters := int64(1) << (63 - bits.LeadingZeros64(uint64(entries*countersPerEntry))) // round down to a power of 2, as ristretto rounds up
	maxCost := main - counters*counterBytes

	l := &Limiter{
		sideCap: int(max(8, side/(2*sideShards*sideEntryBytes))),
		states:  make(map[string]*policyState),
	}
	for i := range l.side {
		l.side[i].cur = make(map[uint64]*bucket)
		l.side[i].old = make(map[uint64]*bucket)
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *bucket]{
		NumCounters:        counters,
		MaxCost:            maxCost,
		BufferItems:        64,
		KeyToHash:          func(k uint64) (uint64, uint64) { return k, 0 },
		IgnoreInternalCost: true, // entryCost already counts ristretto's slots
		OnEvict:            l.onEvict,
		OnReject:           l.onReject,
	})
	if err != nil {
		return nil, fmt.Errorf("limiter: creating the bucket cache: %w", err)
	}
	l.cache = cache
	return l, nil
}

// Close stops the cache's goroutines. The Limiter must not be used after.
func (l *Limiter) Close() {
	l.closing.Store(true) // ristretto's Close "evicts" every bucket
	l.cache.Close()
}

// Update binds the policies of a new config to the Limiter. A policy whose
// name, key and header are unchanged keeps its buckets; changed rate or
// burst are applied to each bucket in place when it is next used, keeping
// its tokens (a client that spent its burst does not get it back from a
// reload). Policies no longer present lose their state; their buckets stay
// until evicted. now is when the new numbers take effect.
func (l *Limiter) Update(now time.Time, policies []*Policy) error {
	if err := CheckPolicies(policies); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := make(map[string]*policyState, len(policies))
	for _, p := range policies {
		keep[p.Name] = l.bindLocked(now, p)
	}
	l.states = keep
	return nil
}

// CheckPolicies checks a set of policies as Update does, so a reload can
// check them before it commits anything.
func CheckPolicies(policies []*Policy) error {
	seen := make(map[string]bool, len(policies))
	for _, p := range policies {
		if err := p.Validate(); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("rate limit %q is defined twice", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// state returns p's state in l, binding p on first use when Update was not
// called with it.
func (l *Limiter) state(now time.Time, p *Policy) *policyState {
	if st := p.st.Load(); st != nil && st.owner == l {
		return st
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bindLocked(now, p)
}

func (l *Limiter) bindLocked(now time.Time, p *Policy) *policyState {
	st := l.states[p.Name]
	if st == nil || st.key != p.Key || st.header != p.Header {
		// A new policy, or one whose key changed: its old buckets count
		// something else, so it starts afresh under new seeds.
		st = &policyState{
			owner: l, name: p.Name, key: p.Key, header: p.Header,
			seed: maphash.MakeSeed(), fallback: maphash.MakeSeed(),
		}
		st.params.Store(newParams(p.limit(), p.Burst, now))
		l.states[p.Name] = st
	} else if cur := st.params.Load(); cur.limit != p.limit() || cur.burst != p.Burst {
		st.params.Store(newParams(p.limit(), p.Burst, now))
	}
	p.st.Store(st)
	return st
}

// lookup returns the bucket for hash h, creating it when create is set;
// otherwise a missing bucket is reported as nil.
func (l *Limiter) lookup(now time.Time, h uint64, st *policyState, create bool) *bucket {
	if b, ok := l.cache.Get(h); ok {
		return b
	}
	l.noteTime(now)
	return l.lookupSlow(h, st, create)
}

func (l *Limiter) noteTime(now time.Time) {
	n := now.UnixNano()
	for c := l.clock.Load(); n > c && !l.clock.CompareAndSwap(c, n); c = l.clock.Load() {
	}
}

// lookupSlow handles a cache miss: the key is new, its Set is still in
// ristretto's buffer, or it was refused or evicted. The side shard's lock
// makes sure one key never gets two buckets at once.
func (l *Limiter) lookupSlow(h uint64, st *policyState, create bool) *bucket {
	s := &l.side[h%sideShards]
	s.mu.Lock()
	b := s.cur[h]
	if b == nil {
		if b = s.old[h]; b != nil {
			s.putLocked(h, b, l.sideCap)
		}
	}
	if b != nil {
		l.recovered.Add(1)
	} else if create {
		b = newBucket(st.params.Load())
		s.putLocked(h, b, l.sideCap)
		l.created.Add(1)
	}
	s.mu.Unlock()
	if b != nil {
		// Offer the bucket to the cache again: TinyLFU has counted this key's
		// Gets by now, so a key in use ends up admitted and resident.
		l.offer(h, b.live())
	}
	return b
}

func (l *Limiter) offer(h uint64, b *bucket) {
	if !l.cache.Set(h, b, entryCost) {
		l.dropped.Add(1)
	}
}

func (s *sideShard) putLocked(h uint64, b *bucket, capacity int) {
	if len(s.cur) >= capacity {
		// Rotate: forget the old generation, keeping its map's memory.
		clear(s.old)
		s.cur, s.old = s.old, s.cur
	}
	s.cur[h] = b
}

// onEvict keeps an evicted bucket that is not full in the side table, so a
// key that comes back soon continues where it was instead of restarting
// full. Ristretto removes the bucket from its map before calling this: a
// request of the key in between finds neither and creates a new bucket,
// which is then in the side table; the evicted one's state is folded into
// it (adopt).
func (l *Limiter) onEvict(it *ristretto.Item[*bucket]) {
	if it.Value == nil || l.closing.Load() {
		return
	}
	l.evicted.Add(1)
	evicted := it.Value.live()
	// A bucket that has refilled carries nothing a new one would not:
	// forget it and leave the side table to buckets that hold a debt.
	keep := !evicted.fullAt(time.Unix(0, l.clock.Load()))
	s := &l.side[it.Key%sideShards]
	s.mu.Lock()
	fresh := s.cur[it.Key]
	if fresh == nil {
		// Into the current generation, also when it sits in the old one:
		// the next rotation would forget it there.
		if fresh = s.old[it.Key]; fresh != nil && fresh != evicted {
			s.putLocked(it.Key, fresh, l.sideCap)
		} else if keep {
			s.putLocked(it.Key, evicted, l.sideCap)
		}
	}
	s.mu.Unlock()
	if fresh != nil && fresh != evicted && fresh.adopt(evicted) {
		l.adopted.Add(1)
	}
}

// onReject counts Sets refused by TinyLFU admission (or as a duplicate of a
// Set still in the buffer); the bucket stays in the side table.
func (l *Limiter) onReject(*ristretto.Item[*bucket]) { l.rejected.Add(1) }

// Stats are counters for metrics; all but the Cost fields only grow.
type Stats struct {
	Created   uint64 // buckets created: a key seen first, or after its state was forgotten
	Recovered uint64 // cache misses answered from the side table
	Dropped   uint64 // cache Sets dropped because ristretto's set buffer was full
	Rejected  uint64 // cache Sets refused by TinyLFU admission or as duplicates
	Evicted   uint64 // buckets evicted from the cache (those in debt are kept a while in the side table)
	Adopted   uint64 // evicted buckets folded into one created meanwhile for the same key
	CostUsed  int64  // bytes of resident buckets accounted in the cache
	CostMax   int64  // the cache's bound for them

	// With UseRedis (the buckets above then serve only the "local"
	// fallback):
	RedisCalls  uint64 // bucket script calls sent to Redis (round trips; one call decides several policies)
	RedisErrors uint64 // of those, failed: unreachable, slower than redis_timeout, refused
	Fallbacks   uint64 // policy decisions made by rate_limit_on_store_error instead of Redis
	NearLimit   uint64 // refusals answered by the near-limit cache, without a round trip
}

// Stats returns the current counters.
func (l *Limiter) Stats() Stats {
	maxCost := l.cache.MaxCost()
	return Stats{
		Created:   l.created.Load(),
		Recovered: l.recovered.Load(),
		Dropped:   l.dropped.Load(),
		Rejected:  l.rejected.Load(),
		Evicted:   l.evicted.Load(),
		Adopted:   l.adopted.Load(),
		CostUsed:  maxCost - l.cache.RemainingCost(),
		CostMax:   maxCost,

		RedisCalls:  l.redisCalls.Load(),
		RedisErrors: l.redisErrors.Load(),
		Fallbacks:   l.fallbacks.Load(),
		NearLimit:   l.nearLimit.Load(),
	}
}

// wait applies the cache's buffered Sets (tests and the memory check).
func (l *Limiter) wait() { l.cache.Wait() }
