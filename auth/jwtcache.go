package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// TokenCache holds verified JWTs by the SHA-256 of the token until their
// exp (plus leeway), within a byte budget (its share of
// store.memory_budget, docs/configuration.md), so a repeated token costs a
// hash and a lookup, not a signature check. Only digests and identities
// are held, never a token. Entries carry the generation of the verifier
// that made them: after a reload that changes [[auth.jwt]], older entries
// are misses and age out.
type TokenCache struct {
	c *ristretto.Cache[uint64, *cachedToken]
}

type cachedToken struct {
	digest [sha256.Size]byte
	id     *Identity
	gen    uint64
	until  int64 // unix nanoseconds: exp + leeway
}

// cachedTokenBytes approximates an entry: the entry, its Identity, a small
// scopes map and ristretto's own item and counters.
const cachedTokenBytes = 512

// NewTokenCache makes a cache bounded by budget bytes (at least 64KiB).
func NewTokenCache(budget int64) (*TokenCache, error) {
	budget = max(budget, 64<<10)
	entries := budget / cachedTokenBytes
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *cachedToken]{
		NumCounters: entries * 10,
		MaxCost:     budget,
		BufferItems: 64,
		// The key is already the first 8 bytes of a SHA-256; the entry
		// holds the whole digest, compared on every hit.
		KeyToHash:          func(k uint64) (uint64, uint64) { return k, 0 },
		IgnoreInternalCost: true, // cachedTokenBytes counts ristretto's part
	})
	if err != nil {
		return nil, fmt.Errorf("JWT cache: %w", err)
	}
	return &TokenCache{c: c}, nil
}

// Close stops the cache's goroutines.
func (tc *TokenCache) Close() {
	if tc != nil {
		tc.c.Close()
	}
}

func (tc *TokenCache) get(d *[sha256.Size]byte, gen uint64, now time.Time) (*Identity, bool) {
	e, ok := tc.c.Get(binary.LittleEndian.Uint64(d[:8]))
	if !ok || e.gen != gen || now.UnixNano() >= e.until || subtle.ConstantTimeCompare(e.digest[:], d[:]) != 1 {
		return nil, false
	}
	return e.id, true
}

func (tc *TokenCache) set(d *[sha256.Size]byte, id *Identity, gen uint64, until, now time.Time) {
	ttl := until.Sub(now)
	if ttl <= 0 {
		return
	}
	cost := int64(cachedTokenBytes + len(id.ID))
	for s := range id.Scopes {
		cost += int64(len(s)) + 16
	}
	for _, o := range id.Orgs {
		cost += 2*int64(len(o)) + 40
	}
	tc.c.SetWithTTL(binary.LittleEndian.Uint64(d[:8]), &cachedToken{digest: *d, id: id, gen: gen, until: until.UnixNano()}, cost, ttl)
}

// wait blocks until pending sets are applied (tests).
func (tc *TokenCache) wait() { tc.c.Wait() }
