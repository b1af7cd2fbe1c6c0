package limiter

import (
	"math"
	"sync"
	"time"
)

// bucket is one token bucket with the arithmetic of golang.org/x/time/rate
// v0.16.0's Limiter (advance, reserveN with no future reservation, SetLimitAt
// and SetBurstAt), operation for operation, so that its float results are
// the same bit for bit: FuzzBucketMatchesXTimeRate checks it against the
// real rate.Limiter. It is its own type rather than a wrapped rate.Limiter
// because a wrapper needs its own lock plus AllowN's and TokensAt's (three
// times the cost of one), because giving a token back has no
// allocation-free API there, and because it must refuse to let an admitted
// earlier time move its clock back (see the package doc).
type bucket struct {
	mu     sync.Mutex
	tokens float64   // at time last: at most burst, and a hair below 0 at worst (as x/time/rate)
	last   time.Time // time of the last state change; earlier times are clamped to it
	params *params   // the numbers this bucket follows (limit, burst)
	fwd    *bucket   // set once this bucket was adopted into another: use that one
}

// lock locks and returns the live bucket b stands for: b itself, or the
// bucket it was adopted into.
func (b *bucket) lock() *bucket {
	for {
		b.mu.Lock()
		if b.fwd == nil {
			return b
		}
		next := b.fwd
		b.mu.Unlock()
		b = next
	}
}

// live returns the bucket b stands for.
func (b *bucket) live() *bucket {
	b = b.lock()
	b.mu.Unlock()
	return b
}

func newBucket(p *params) *bucket {
	// rate.NewLimiter: full, and last is the zero time, so the first
	// advance fills it whatever the rate.
	return &bucket{tokens: float64(p.burst), params: p}
}

// sync, with b.mu held, clamps now to the bucket's clock and applies a
// reload's numbers the way SetLimitAt and SetBurstAt do: advance to the
// moment they took effect (not before what the bucket has seen, not after
// now) under the old numbers, then switch, keeping the tokens.
func (b *bucket) sync(now time.Time, cur *params) time.Time {
	if now.Before(b.last) {
		now = b.last
	}
	if cur != b.params {
		at := cur.since
		if at.Before(b.last) {
			at = b.last
		}
		if now.Before(at) {
			at = now
		}
		b.tokens = b.advance(at)
		b.last = at
		b.params = cur
	}
	return now
}

// advance is rate.Limiter.advance: the tokens at t, capped at burst.
func (b *bucket) advance(t time.Time) float64 {
	last := b.last
	if t.Before(last) {
		last = t
	}
	p := b.params
	tokens := b.tokens + tokensFromDuration(p.limit, t.Sub(last))
	if burst := float64(p.burst); tokens > burst {
		tokens = burst
	}
	return tokens
}

// allow is rate.Limiter.AllowN(t, 1): reserveN with no future wait. The
// state changes only when the token is granted.
func (b *bucket) allow(t time.Time) (ok bool, tokens float64) {
	p := b.params
	if p.limit == infLimit {
		return true, float64(p.burst)
	}
	tokens = b.advance(t) - 1
	var wait time.Duration
	if tokens < 0 {
		wait = durationFromTokens(p.limit, -tokens)
	}
	if 1 > p.burst || wait > 0 {
		return false, b.advance(t)
	}
	b.last, b.tokens = t, tokens
	return true, tokens
}

// infLimit is rate.Inf: a rate that never refuses. It is MaxFloat64, not
// +Inf, so that tokensFromDuration(infLimit, 0) is 0 rather than NaN.
const infLimit = math.MaxFloat64

// fullAt reports whether the bucket holds burst tokens at now (or at the
// latest time it has seen, if later).
func (b *bucket) fullAt(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.last) {
		now = b.last
	}
	return b.params.limit == infLimit || b.advance(now) >= float64(b.params.burst)
}

// tokensFromDuration is rate.Limit.tokensFromDuration.
func tokensFromDuration(limit float64, d time.Duration) float64 {
	if limit <= 0 {
		return 0
	}
	return d.Seconds() * limit
}

// durationFromTokens is rate.Limit.durationFromTokens.
func durationFromTokens(limit, tokens float64) time.Duration {
	if limit <= 0 {
		return math.MaxInt64
	}
	d := (tokens / limit) * float64(time.Second)
	if d > float64(math.MaxInt64) {
		return math.MaxInt64
	}
	return time.Duration(d)
}

func (b *bucket) take(now time.Time, cur *params, r *result) {
	b = b.lock()
	now = b.sync(now, cur)
	ok, tokens := b.allow(now)
	p := b.params
	b.mu.Unlock()
	r.b, r.took, r.refused = b, ok, !ok
	r.remaining, r.reset = remainingReset(tokens, p)
}

func (b *bucket) peek(now time.Time, cur *params, r *result) {
	b = b.lock()
	now = b.sync(now, cur)
	tokens := b.advance(now)
	p := b.params
	b.mu.Unlock()
	*r = result{refused: p.limit != infLimit && tokens < 1}
	r.remaining, r.reset = remainingReset(tokens, p)
}

// giveBack returns the token r took, as rate.Limiter.AllowN(t, -1) would:
// one token added at now, never above burst.
func (b *bucket) giveBack(now time.Time, r *result) {
	b = b.lock()
	if now.Before(b.last) {
		now = b.last
	}
	p := b.params
	tokens := b.tokens
	if p.limit != infLimit {
		tokens = min(b.advance(now)+1, float64(p.burst))
		b.last, b.tokens = now, tokens
	}
	b.mu.Unlock()
	r.took = false
	r.remaining, r.reset = remainingReset(tokens, p)
}

// adopt folds into b the state of old, a bucket evicted from the cache
// while b was being created for the same key (see Limiter.onEvict), and
// makes old forward to b: a Set of old still in ristretto's buffer may put
// it back in the cache, and its users must then reach b. b started full, so
// what it is short of burst was spent by requests that old would have
// counted: b keeps old's tokens less that. It reports false when old was
// already adopted. Only ristretto's single goroutine calls it, so holding
// two bucket locks cannot deadlock (everything else holds one at a time).
func (b *bucket) adopt(old *bucket) bool {
	b = b.lock()
	defer b.mu.Unlock()
	if old == b {
		return false
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	if old.fwd != nil {
		return false
	}
	old.fwd = b
	if b.params.limit == infLimit {
		return true
	}
	now := b.last
	if now.Before(old.last) {
		now = old.last
	}
	old.sync(now, b.params)
	spent := float64(b.params.burst) - b.advance(now)
	b.tokens = max(0, old.advance(now)-spent)
	b.last = now
	return true
}

// remainingReset computes RateLimit r and t (README.md "Rate limits"):
// r = whole tokens left; t = seconds, rounded up, until one token is
// available when r = 0 (at least 1), else until the bucket is full.
func remainingReset(tokens float64, p *params) (r, t int64) {
	if p.limit == infLimit {
		return int64(p.burst), 0
	}
	if tokens < 1 {
		return 0, max(1, ceilSeconds((1-tokens)/p.limit))
	}
	return int64(tokens), ceilSeconds((float64(p.burst) - tokens) / p.limit)
}

// maxSFInteger is the largest Structured Field Integer (RFC 8941 §3.3.1).
const maxSFInteger = 999_999_999_999_999

// ceilSeconds rounds s up to whole seconds, within a Structured Field
// Integer; NaN and +Inf (a zero rate) give the maximum.
func ceilSeconds(s float64) int64 {
	switch {
	case s <= 0:
		return 0
	case !(s < maxSFInteger): // also NaN
		return maxSFInteger
	}
	return int64(math.Ceil(s))
}
