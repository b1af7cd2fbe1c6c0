package limiter

import (
	"sync"
	"time"
)

// nearCache remembers, on this replica, the Redis buckets it saw with less
// than one token and until when they stay that way: a request for one of
// them before then is refused here without a round trip. A client that
// keeps knocking after its 429 (the common case of a flood) then costs
// Redis one script per refill interval per replica instead of one per
// request.
//
// It is sound because, between Redis answers, other replicas can only take
// tokens from a bucket, never add them, with three exceptions, each of
// which can only make this replica refuse a little longer than Redis
// would: a give-back by another replica (at most one token per request
// that another policy refused), a reload that raised the rate or burst on
// another replica first (this replica ignores entries made under numbers
// other than its current ones), and a Redis that lost its data (restart,
// failover): the bucket restarts full there while this replica still
// refuses until the remembered time, at most one token interval (1/rate).
//
// Entries are keyed by 64 bits of the bucket's SHA-256 key digest and
// carry the *params they were computed under. The table is bounded:
// nearShards × nearShardCap entries (about 1.5MiB, outside memory_budget);
// a full shard is swept of expired entries and cleared if that is not
// enough, which only costs round trips.
type nearCache struct {
	shards [nearShards]nearShard
}

const (
	nearShards   = 64
	nearShardCap = 512
	nearMaxWait  = time.Hour
)

type nearShard struct {
	mu sync.Mutex
	m  map[uint64]nearEntry
	_  [48]byte // keep shards on separate cache lines
}

type nearEntry struct {
	at    int64 // UnixNano of the caller's clock when Redis answered
	until int64 // and when the bucket has a token again
	p     *params
}

func newNearCache() *nearCache {
	c := &nearCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]nearEntry)
	}
	return c
}

// refused reports how long the bucket id is known to stay below one token
// from now, under the numbers p; false if it is not known to be empty now.
// A now earlier than Redis's answer is clamped to it, as a bucket clamps
// late arrivals, so the wait is the one Redis would report.
func (c *nearCache) refused(id uint64, p *params, now time.Time) (time.Duration, bool) {
	s := &c.shards[id%nearShards]
	s.mu.Lock()
	e, ok := s.m[id]
	s.mu.Unlock()
	n := max(now.UnixNano(), e.at)
	if !ok || e.p != p || n >= e.until {
		return 0, false
	}
	return time.Duration(e.until - n), true
}

// note records what Redis answered for bucket id at now: tokens left under
// p. Fewer than one token: remember until when; else forget the bucket.
func (c *nearCache) note(id uint64, p *params, now time.Time, tokens float64) {
	s := &c.shards[id%nearShards]
	if tokens >= 1 || p.limit == infLimit {
		s.mu.Lock()
		delete(s.m, id)
		s.mu.Unlock()
		return
	}
	// Capped, so that a tiny rate cannot overflow the clock; a longer wait
	// only asks Redis again after an hour.
	until := now.Add(min(durationFromTokens(p.limit, 1-tokens), nearMaxWait)).UnixNano()
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok && len(s.m) >= nearShardCap {
		for k, e := range s.m {
			if e.until <= n {
				delete(s.m, k)
			}
		}
		if len(s.m) >= nearShardCap*3/4 {
			clear(s.m)
		}
	}
	s.m[id] = nearEntry{at: n, until: until, p: p}
}

// len counts the entries (tests).
func (c *nearCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
