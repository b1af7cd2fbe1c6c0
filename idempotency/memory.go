package idempotency

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// Config is [idempotency] plus the store's budget, as plain values.
type Config struct {
	TTL               time.Duration // lifetime of a record or abandoned key (ttl)
	LockTimeout       time.Duration // lifetime of a claim without outcome (lock_timeout)
	MaxStoredResponse int           // largest body kept for replay (max_stored_response)
	OnReuse           Mode          // responses are kept only in ModeReplay
	MemoryBudget      int64         // memory store bound in bytes (store.memory_budget)
	MaxKeysPerClient  int           // live entries one client may hold (max_keys_per_client); 0 = no limit
}

// DefaultConfig returns docs/configuration.md's defaults.
func DefaultConfig() Config {
	return Config{
		TTL:               24 * time.Hour,
		LockTimeout:       60 * time.Second,
		MaxStoredResponse: 1 << 20,
		OnReuse:           ModeConflict,
		MemoryBudget:      128 << 20,
		MaxKeysPerClient:  10000,
	}
}

// Validate checks c as NewMemory and Reconfigure do, so a reload can
// check it before it commits anything.
func (c Config) Validate() error { return c.validate() }

func (c Config) validate() error {
	switch {
	case c.TTL <= 0:
		return fmt.Errorf("idempotency: ttl %v: must be positive", c.TTL)
	case c.LockTimeout <= 0:
		return fmt.Errorf("idempotency: lock_timeout %v: must be positive", c.LockTimeout)
	case c.MaxStoredResponse < 0:
		return fmt.Errorf("idempotency: max_stored_response %d: must not be negative", c.MaxStoredResponse)
	case c.MemoryBudget <= 0:
		return fmt.Errorf("idempotency: memory budget %d: must be positive", c.MemoryBudget)
	case c.MaxKeysPerClient < 0:
		return fmt.Errorf("idempotency: max_keys_per_client %d: must not be negative (0 = no limit)", c.MaxKeysPerClient)
	}
	return nil
}

// Memory is the in-process Store: exact (a claim is a map entry under a
// mutex, never a droppable cache write) and bounded by Config.MemoryBudget.
//
// Entries live in 64 shards chosen by a seeded hash of the scope. A shard
// is a map from scope to a slot in its slab (chunks of entries with a free
// list) and two expiry queues naming slots. Expired entries are dropped by
// the operations themselves (see queue): a few per call, and all of them
// before a claim is refused for want of budget. Every byte the store
// retains is charged to one atomic counter before it is retained, and a
// claim whose charge would pass the budget is refused (ErrStoreFull)
// rather than admitted.
type Memory struct {
	cfg           atomic.Pointer[Config]
	used          atomic.Int64
	lastFullSweep atomic.Int64 // unix nanoseconds
	seed          maphash.Seed
	shards        [shardCount]shard
	quota         *quotaTable // max_keys_per_client, see quota.go
}

var _ Store = (*Memory)(nil)

// shardCount shards keep two cores (or sixty-four) off each other's locks.
const shardCount = 64

// NewMemory returns an empty memory store.
func NewMemory(cfg Config) (*Memory, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Memory{seed: maphash.MakeSeed(), quota: newQuotaTable()}
	m.cfg.Store(&cfg)
	for i := range m.shards {
		m.shards[i].m = make(map[string]int32)
		m.shards[i].free = -1
	}
	return m, nil
}

// Reconfigure applies a reloaded config without dropping any entry: new
// durations apply to claims and records made from now on, a smaller budget
// refuses claims until expiry brings the store under it.
func (m *Memory) Reconfigure(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	m.cfg.Store(&cfg)
	return nil
}

func (m *Memory) shard(scope []byte) *shard {
	return &m.shards[maphash.Bytes(m.seed, scope)%shardCount]
}

// charge adds n to the accounted bytes if the result stays within budget.
// Refunds (n <= 0) always succeed.
func (m *Memory) charge(n, budget int64) bool {
	if n <= 0 {
		m.used.Add(n)
		return true
	}
	if m.used.Add(n) > budget {
		m.used.Add(-n)
		return false
	}
	return true
}

// Claim implements Store. ctx is unused: the memory store never blocks on I/O.
func (m *Memory) Claim(_ context.Context, now time.Time, scope []byte, fp Fingerprint) (ClaimResult, error) {
	cfg := m.cfg.Load()
	t := now.UnixNano()
	s := m.shard(scope)
	var (
		i     int32
		found bool
		e     *entry
		cost  int64
	)
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		s.sweep(m, t, sweepBatch)
		i, found = s.m[string(scope)]
		if found {
			e = s.at(i)
			if e.exp > t {
				return s.conflict(cfg, e, fp) // unlocks
			}
		}
		// A new claim: the claim's expiry item and the reserved record
		// item, the key and, when no slot is free, a chunk of slots. An
		// expired entry still in the map is replaced in place, key and
		// slot included.
		cost = 2 * qitemSize
		if found {
			cost -= stateCost(e)
		} else {
			cost += allocSize(len(scope))
			if s.free < 0 {
				cost += chunkCost
			}
		}
		if m.charge(cost, cfg.MemoryBudget) {
			break
		}
		if attempt > 0 || !m.fullSweepDue(t) {
			s.counters.storeFull++
			s.mu.Unlock()
			return ClaimResult{}, ErrStoreFull
		}
		// Before refusing anyone, drop every expired entry, not only this
		// shard's few, and look again: the key may have been claimed since.
		s.mu.Unlock()
		m.sweepAll(t)
	}
	exp := t + int64(cfg.LockTimeout)
	if wait, err := m.quota.admit(m, cfg.MemoryBudget, scope, exp, t, cfg.MaxKeysPerClient); err != nil || wait > 0 {
		m.used.Add(-cost)
		if err != nil {
			s.counters.storeFull++
			s.mu.Unlock()
			return ClaimResult{}, err
		}
		s.counters.overQuota++
		s.mu.Unlock()
		return ClaimResult{State: StateOverQuota, RetryAfter: wait}, nil
	}
	if found {
		s.counters.expired++
	} else {
		i, e = s.insert(string(scope)) // the claim's one allocation: its key
	}
	if s.token++; s.token == 0 {
		s.token = 1 // a zero Lease never matches
	}
	e.fp, e.exp, e.data, e.token, e.state = fp, exp, nil, s.token, stClaimed
	s.claims.push(qitem{exp: e.exp, slot: i})
	s.counters.claims++
	token := e.token
	s.mu.Unlock()
	return ClaimResult{State: StateClaimed, Lease: Lease{Scope: scope, Fingerprint: fp, Token: uint64(token)}}, nil
}

// conflict reports the live entry e to a Claim, and unlocks the shard.
func (s *shard) conflict(cfg *Config, e *entry, fp Fingerprint) (ClaimResult, error) {
	res := ClaimResult{State: StateInFlight, SameFingerprint: e.fp == fp}
	var data []byte
	if e.state == stClaimed {
		s.counters.inFlight++
	} else {
		res.State = StateCompleted
		s.counters.completed++
		if res.SameFingerprint && e.data != nil {
			s.counters.replayable++
			data = e.data
		}
	}
	if !res.SameFingerprint {
		s.counters.mismatches++
	}
	s.mu.Unlock()
	if data != nil && cfg.OnReuse == ModeReplay {
		// A corrupt record cannot be replayed; nil answers 409 instead.
		res.Response, _ = decodeResponse(data)
	}
	return res, nil
}

// Complete implements Store. The response is kept only in ModeReplay, when
// its body is at most MaxStoredResponse bytes and the budget has room; else
// the record is kept without it (a replay answers 409, never re-executes).
func (m *Memory) Complete(_ context.Context, now time.Time, l Lease, resp *Response) error {
	cfg := m.cfg.Load()
	var data []byte
	dropped := false
	if resp != nil && cfg.OnReuse == ModeReplay {
		if !resp.Unstored && len(resp.Body) <= cfg.MaxStoredResponse {
			data = encodeResponse(resp) // outside the lock: it copies the body
		} else {
			dropped = true
		}
	}
	return m.finish(cfg, now.UnixNano(), l, data, dropped, false)
}

// Abandon implements Store.
func (m *Memory) Abandon(_ context.Context, now time.Time, l Lease) error {
	return m.finish(m.cfg.Load(), now.UnixNano(), l, nil, false, true)
}

// finish turns the lease's claim into a record (data != nil: with a
// response) living ttl from t. dropped says a response was not kept;
// abandoned says the outcome is unknown.
func (m *Memory) finish(cfg *Config, t int64, l Lease, data []byte, dropped, abandoned bool) error {
	s := m.shard(l.Scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(m, t, sweepBatch)
	i, found := s.m[string(l.Scope)]
	var e *entry
	if found {
		e = s.at(i)
	}
	live := found && e.exp > t
	if live && (e.state != stClaimed || uint64(e.token) != l.Token) {
		s.counters.leasesLost++
		return ErrLeaseLost
	}

	// Cost of the transition without a response. A live claim reserved its
	// record item. A lease that outlived its claim (expired, maybe swept,
	// maybe re-claimed and released since) still records its outcome, since
	// the upstream did execute: that needs the item, and the key and a slot
	// unless the expired entry is still there.
	var base int64
	switch {
	case live:
	case found:
		base = qitemSize - stateCost(e)
	default:
		base = qitemSize + allocSize(len(l.Scope))
		if s.free < 0 {
			base += chunkCost
		}
	}
	if data != nil && !m.charge(base+allocSize(len(data)), cfg.MemoryBudget) {
		data, dropped = nil, true
	}
	if data == nil && !m.charge(base, cfg.MemoryBudget) {
		s.counters.storeFull++
		return ErrStoreFull
	}
	if !live {
		s.counters.late++
	}
	if !found {
		i, e = s.insert(string(l.Scope))
	}
	if dropped {
		s.counters.responsesDropped++
	}
	if abandoned {
		s.counters.abandons++
	}
	state := stUsed
	if data != nil {
		state = stCompleted
	}
	e.fp, e.exp, e.data, e.token, e.state = l.Fingerprint, t+int64(cfg.TTL), data, uint32(l.Token), state
	s.records.push(qitem{exp: e.exp, slot: i})
	m.quota.update(m, cfg.MemoryBudget, l.Scope, e.exp)
	return nil
}

// Release implements Store: the claim is deleted, so the key is free again.
func (m *Memory) Release(_ context.Context, l Lease) error {
	s := m.shard(l.Scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.m[string(l.Scope)]
	if !found {
		s.counters.leasesLost++
		return ErrLeaseLost
	}
	e := s.at(i)
	if e.state != stClaimed || uint64(e.token) != l.Token {
		s.counters.leasesLost++
		return ErrLeaseLost
	}
	m.used.Add(-entryCost(e)) // its queue item is refunded when popped
	s.remove(i)
	m.quota.remove(m, l.Scope)
	s.counters.releases++
	return nil
}

// Stats implements Store.
func (m *Memory) Stats() Stats {
	var st Stats
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		c := s.counters
		st.Entries += int64(len(s.m))
		s.mu.Unlock()
		st.Claims += c.claims
		st.InFlight += c.inFlight
		st.Completed += c.completed
		st.Replayable += c.replayable
		st.Mismatches += c.mismatches
		st.StoreFull += c.storeFull
		st.Releases += c.releases
		st.Abandons += c.abandons
		st.LeasesLost += c.leasesLost
		st.LateCompletions += c.late
		st.ResponsesDropped += c.responsesDropped
		st.Expired += c.expired
		st.OverQuota += c.overQuota
	}
	st.Bytes = m.used.Load()
	return st
}
