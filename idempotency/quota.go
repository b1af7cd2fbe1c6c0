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
	// byExp is a min-heap of (expiry, hash) items. An item is live while
	// keys holds the same expiry for its hash; a changed or removed key
	// leaves a stale item that is dropped when it reaches the top. So the
	// earliest live expiry and every expired key are found in O(log n)
	// per item, never by scanning the map.
	byExp []quotaItem
}

type quotaItem struct {
	exp int64
	h   uint64
}

// quotaItemCost is a heap item's charge (16 bytes, with slice growth slack).
const quotaItemCost = 32

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
	}
	ck.prune(m, exp) // stale and expired items on top go with it
	if len(ck.keys) == 0 {
		m.used.Add(-quotaItemCost * int64(len(ck.byExp)))
		delete(qs.clients, client)
		m.used.Add(-(quotaClientCost + allocSize(len(client))))
	}
}

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
			return max(time.Duration(ck.byExp[0].exp-now), time.Nanosecond), nil
		}
	}
	if !m.charge(quotaKeyCost+quotaItemCost, budget) {
		if len(ck.keys) == 0 {
			qs.drop(m, client)
		}
		return 0, ErrStoreFull
	}
	ck.set(m, h, exp)
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
	_, had := ck.lookup(h)
	cost := int64(quotaItemCost)
	if !had {
		cost += quotaKeyCost
	}
	if ck == nil {
		cost += clientCost(client)
	}
	if !m.charge(cost, budget) {
		return
	}
	if ck == nil {
		ck = &clientKeys{keys: make(map[uint64]int64)}
		qs.clients[string(client)] = ck
	}
	ck.set(m, h, exp)
}

func (ck *clientKeys) lookup(h uint64) (int64, bool) {
	if ck == nil {
		return 0, false
	}
	exp, ok := ck.keys[h]
	return exp, ok
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
	}
	if len(ck.keys) == 0 {
		qs.drop(m, client)
	}
}

// set stores h's expiry; the key's charge (if new) and one item's are
// already paid.
func (ck *clientKeys) set(m *Memory, h uint64, exp int64) {
	ck.keys[h] = exp
	ck.byExp = append(ck.byExp, quotaItem{exp: exp, h: h})
	if before := len(ck.byExp); before > 2*len(ck.keys)+16 {
		ck.rebuild()
		m.used.Add(-quotaItemCost * int64(before-len(ck.byExp)))
		return
	}
	for i := len(ck.byExp) - 1; i > 0; {
		p := (i - 1) / 2
		if ck.byExp[p].exp <= ck.byExp[i].exp {
			break
		}
		ck.byExp[p], ck.byExp[i] = ck.byExp[i], ck.byExp[p]
		i = p
	}
}

// pop removes the heap's top item.
func (ck *clientKeys) pop(m *Memory) {
	n := len(ck.byExp) - 1
	ck.byExp[0] = ck.byExp[n]
	ck.byExp = ck.byExp[:n]
	m.used.Add(-quotaItemCost)
	ck.down(0)
}

// prune drops the expired keys and the stale items on top of the heap, so
// that afterwards the top is the earliest live expiry.
func (ck *clientKeys) prune(m *Memory, now int64) {
	for len(ck.byExp) > 0 {
		top := ck.byExp[0]
		exp, ok := ck.keys[top.h]
		switch {
		case ok && exp == top.exp && exp > now:
			return
		case ok && exp == top.exp:
			delete(ck.keys, top.h)
			m.used.Add(-quotaKeyCost)
		}
		ck.pop(m)
	}
}

func (qs *quotaShard) drop(m *Memory, client []byte) {
	if ck := qs.clients[string(client)]; ck != nil {
		m.used.Add(-quotaKeyCost*int64(len(ck.keys)) - quotaItemCost*int64(len(ck.byExp)))
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
			n += quotaClientCost + allocSize(len(name)) + quotaKeyCost*int64(len(ck.keys)) + quotaItemCost*int64(len(ck.byExp))
		}
		qs.mu.Unlock()
	}
	return n
}

func clientCost(client []byte) int64 { return quotaClientCost + allocSize(len(client)) }

// rebuild makes the heap anew from the live keys, dropping stale items
// (so they stay fewer than about twice the keys); set refunds them.
func (ck *clientKeys) rebuild() {
	ck.byExp = ck.byExp[:0]
	for h, exp := range ck.keys {
		ck.byExp = append(ck.byExp, quotaItem{exp: exp, h: h})
	}
	for i := len(ck.byExp)/2 - 1; i >= 0; i-- {
		ck.down(i)
	}
}

func (ck *clientKeys) down(i int) {
	n := len(ck.byExp)
	for {
		l, small := 2*i+1, i
		if l < n && ck.byExp[l].exp < ck.byExp[small].exp {
			small = l
		}
		if r := l + 1; r < n && ck.byExp[r].exp < ck.byExp[small].exp {
			small = r
		}
		if small == i {
			return
		}
		ck.byExp[i], ck.byExp[small] = ck.byExp[small], ck.byExp[i]
		i = small
	}
}
