package idempotency

import (
	"hash/maphash"
	"sync"
	"time"
)

// Fair shares of the memory store (README.md "Idempotency";
// [idempotency] max_keys_per_client). One client — the client part of a
// scope (Client): a token, an Authorization digest or an address — holds
// at most MaxKeysPerClient live entries (claims and records). A new key
// beyond that is refused with the time until the client's oldest entry
// expires, so one client can never fill the store for everyone else.
//
// The table is its own index beside the entry shards: per client, a map
// from the scope's hash to the entry's expiry. It follows the entries'
// lifecycle (claim, record, release) from the Memory methods, which call it
// with their shard's mutex held (lock order: entry shard, then quota
// shard; never the reverse). A key leaves the index when its entry is
// released or swept at expiry, and when its client reaches its share and
// expired keys are pruned; so the index never outlives the entries. Its
// bytes are charged to the store's budget like everything else.

const (
	quotaShards = 64
	// quotaKeyCost over-estimates one key in a client's map (an 8-byte
	// hash, an 8-byte expiry, swiss-table control and load-factor slack).
	quotaKeyCost = 48
	// quotaClientCost over-estimates a client's struct, its empty map and
	// its slot in the shard's map; the name is charged on top.
	quotaClientCost = 160
)

type quotaTable struct {
	seed   maphash.Seed
	shards [quotaShards]quotaShard
}

type quotaShard struct {
	mu      sync.Mutex
	clients map[string]*clientKeys
	_       [64]byte
}

type clientKeys struct {
	keys map[uint64]int64 // scope hash → expiry, unix nanoseconds
	// next is a lower bound of the earliest expiry (0 when there is no
	// key); exact says it is that expiry, not only a bound.
	next  int64
	exact bool
}

func newQuotaTable() *quotaTable {
	q := &quotaTable{seed: maphash.MakeSeed()}
	for i := range q.shards {
		q.shards[i].clients = make(map[string]*clientKeys)
	}
	return q
}

func (q *quotaTable) shard(client []byte) *quotaShard {
	return &q.shards[maphash.Bytes(q.seed, client)%quotaShards]
}

// expire forgets the key of an entry the shard swept at expiry exp (key is
// the entry's scope), unless the index holds a later expiry for it.
func (q *quotaTable) expire(m *Memory, key string, exp int64) {
	client := key[:clientLen(key)]
	h := maphash.String(q.seed, key)
	qs := &q.shards[maphash.String(q.seed, client)%quotaShards]
	qs.mu.Lock()
	defer qs.mu.Unlock()
	ck := qs.clients[client]
	if ck == nil {
		return
	}
	if old, ok := ck.keys[h]; ok && old <= exp {
		delete(ck.keys, h)
		m.used.Add(-quotaKeyCost)
		ck.exact = false
	}
	if len(ck.keys) == 0 {
		delete(qs.clients, client)
		m.used.Add(-(quotaClientCost + allocSize(len(client))))
	}
}

func clientCost(client []byte) int64 { return quotaClientCost + allocSize(len(client)) }

// admit records a new entry of scope living until exp. It returns a
// positive wait when the client already holds limit live entries (limit <= 0:
// no limit), and ErrStoreFull when the budget cannot hold the index entry.
func (q *quotaTable) admit(m *Memory, budget int64, scope []byte, exp, now int64, limit int) (time.Duration, error) {
	client := Client(scope)
	h := maphash.Bytes(q.seed, scope)
	qs := q.shard(client)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	ck := qs.clients[string(client)]
	if ck == nil {
		if !m.charge(clientCost(client), budget) {
			return 0, ErrStoreFull
		}
		ck = &clientKeys{keys: make(map[uint64]int64)}
		qs.clients[string(client)] = ck
	} else if _, ok := ck.keys[h]; ok {
		// An expired entry of this very scope, replaced by the new claim:
		// it counts as a new key.
		delete(ck.keys, h)
		m.used.Add(-quotaKeyCost)
	}
	if limit > 0 && len(ck.keys) >= limit {
		ck.prune(m, now)
		if len(ck.keys) >= limit {
			ck.exactNext()
			return max(time.Duration(ck.next-now), time.Nanosecond), nil
		}
	}
	if !m.charge(quotaKeyCost, budget) {
		if len(ck.keys) == 0 {
			qs.drop(m, client)
		}
		return 0, ErrStoreFull
	}
	ck.set(h, exp, false)
	return 0, nil
}

// update sets the expiry of scope's entry (a claim that became a record),
// adding it when it is not there (a late completion). The upstream has
// executed, so it is recorded even past the client's share; only a full
// budget leaves it out of the index.
func (q *quotaTable) update(m *Memory, budget int64, scope []byte, exp int64) {
	client := Client(scope)
	h := maphash.Bytes(q.seed, scope)
	qs := q.shard(client)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	ck := qs.clients[string(client)]
	if ck == nil {
		if !m.charge(clientCost(client)+quotaKeyCost, budget) {
			return
		}
		ck = &clientKeys{keys: make(map[uint64]int64)}
		qs.clients[string(client)] = ck
	} else if _, ok := ck.keys[h]; !ok && !m.charge(quotaKeyCost, budget) {
		return
	}
	ck.set(h, exp, true)
}

// remove forgets scope's entry (a released claim).
func (q *quotaTable) remove(m *Memory, scope []byte) {
	client := Client(scope)
	h := maphash.Bytes(q.seed, scope)
	qs := q.shard(client)
	qs.mu.Lock()
	defer qs.mu.Unlock()
	ck := qs.clients[string(client)]
	if ck == nil {
		return
	}
	if _, ok := ck.keys[h]; ok {
		delete(ck.keys, h)
		m.used.Add(-quotaKeyCost)
		ck.exact = false
	}
	if len(ck.keys) == 0 {
		qs.drop(m, client)
	}
}

// set stores h's expiry and keeps next a lower bound. existing says h may
// already be there with another expiry.
func (ck *clientKeys) set(h uint64, exp int64, existing bool) {
	if old, ok := ck.keys[h]; existing && ok && old == ck.next && exp > old {
		ck.exact = false // the earliest may have moved later
	}
	ck.keys[h] = exp
	if ck.next == 0 || exp < ck.next {
		ck.next, ck.exact = exp, true
	}
}

// prune drops the expired keys; it costs nothing while none can be.
func (ck *clientKeys) prune(m *Memory, now int64) {
	if ck.next > now {
		return
	}
	ck.next, ck.exact = 0, true
	for h, exp := range ck.keys {
		if exp <= now {
			delete(ck.keys, h)
			m.used.Add(-quotaKeyCost)
		} else if ck.next == 0 || exp < ck.next {
			ck.next = exp
		}
	}
}

// exactNext makes next the earliest expiry.
func (ck *clientKeys) exactNext() {
	if ck.exact {
		return
	}
	ck.next = 0
	for _, exp := range ck.keys {
		if ck.next == 0 || exp < ck.next {
			ck.next = exp
		}
	}
	ck.exact = true
}

func (qs *quotaShard) drop(m *Memory, client []byte) {
	if ck := qs.clients[string(client)]; ck != nil {
		m.used.Add(-quotaKeyCost * int64(len(ck.keys)))
		delete(qs.clients, string(client))
		m.used.Add(-clientCost(client))
	}
}

// usage is the table's charge, recomputed (for tests).
func (q *quotaTable) usage() int64 {
	var n int64
	for i := range q.shards {
		qs := &q.shards[i]
		qs.mu.Lock()
		for name, ck := range qs.clients {
			n += quotaClientCost + allocSize(len(name)) + quotaKeyCost*int64(len(ck.keys))
		}
		qs.mu.Unlock()
	}
	return n
}
