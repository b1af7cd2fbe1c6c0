package limiter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
)

// The values of docs/configuration.md `store.rate_limit_on_store_error`: what a policy
// decides when Redis does not answer within redis_timeout (down, hung,
// refusing, a Cluster slot without a master).
const (
	OnStoreErrorLocal = "local" // decide with this replica's memory buckets
	OnStoreErrorAllow = "allow" // admit (fail open)
	OnStoreErrorDeny  = "deny"  // refuse: 429 with Retry-After 1 (fail closed)
)

type storeErrorMode uint8

const (
	fallbackLocal storeErrorMode = iota
	fallbackAllow
	fallbackDeny
)

func parseOnStoreError(s string) (storeErrorMode, error) {
	switch s {
	case OnStoreErrorLocal, "":
		return fallbackLocal, nil
	case OnStoreErrorAllow:
		return fallbackAllow, nil
	case OnStoreErrorDeny:
		return fallbackDeny, nil
	}
	return 0, fmt.Errorf("rate_limit_on_store_error = %q: write one of local, allow, deny", s)
}

// redisBackend is what UseRedis installed: immutable, replaced whole.
type redisBackend struct {
	c *redisconn.Client
	// oneNode: a single Redis (not a Cluster), where one script call may
	// touch any keys; in a Cluster one call holds the keys of one hash tag.
	oneNode bool
	onError storeErrorMode
	timeout time.Duration
	near    *nearCache
	// callerClock (tests only) drives the buckets with Check's now instead
	// of the Redis server's TIME, so that a sequence can be replayed on the
	// memory buckets and compared.
	callerClock bool
}

// CheckRedisSettings checks UseRedis's settings without applying them, so a
// reload can check them before it commits anything.
func CheckRedisSettings(onError string, timeout time.Duration) error {
	if _, err := parseOnStoreError(onError); err != nil {
		return err
	}
	if timeout <= 0 {
		return fmt.Errorf("limiter: redis_timeout = %v: write a positive duration such as \"50ms\"", timeout)
	}
	return nil
}

// UseRedis makes the Limiter keep its buckets in Redis (docs/configuration.md `[store]
// backend = "redis"`), shared by every replica on the same Redis: from the
// next request on, Check asks Redis (see the package doc, "Shared buckets
// in Redis"). client is redisconn.NewClient's (the gateway shares it with
// the idempotency store); UseRedis does not contact
// it. timeout is store.redis_timeout: one deadline for all the round trips
// of one Check. onError is store.rate_limit_on_store_error
// (OnStoreErrorLocal, -Allow or -Deny; "" is local).
//
// Call it again after a reload that changed onError or timeout (the same
// client keeps this replica's near-limit cache), and with a nil client to
// go back to memory buckets. A request already between its two Checks
// finishes on the backend it started with. The caller closes the client.
func (l *Limiter) UseRedis(client *redisconn.Client, onError string, timeout time.Duration) error {
	if client == nil {
		l.redis.Store(nil)
		return nil
	}
	if err := CheckRedisSettings(onError, timeout); err != nil {
		return err
	}
	mode, _ := parseOnStoreError(onError) // checked just above
	l.mu.Lock()
	defer l.mu.Unlock()
	rb := &redisBackend{c: client, oneNode: client.Single(), onError: mode, timeout: timeout, near: newNearCache()}
	if old := l.redis.Load(); old != nil && old.c == client {
		rb.near, rb.callerClock = old.near, old.callerClock
	}
	l.redis.Store(rb)
	return nil
}

// LastStoreError returns the latest error Redis gave a Check (nil if none
// since UseRedis), for the log; Stats.RedisErrors counts them.
func (l *Limiter) LastStoreError() error {
	if e := l.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

// redisDecision is the Redis side of one request's Decision, allocated at
// its PreAuth check when Redis is on: the backend the request uses in both
// phases, and for each policy the key it took a token from, for give-back.
type redisDecision struct {
	rb     *redisBackend
	keys   [MaxRoutePolicies]string
	tags   [MaxRoutePolicies][16]byte // the keys' hash tags (subject digests)
	ids    [MaxRoutePolicies]uint64
	failed bool // a store error: the rest of the request uses onError without asking Redis
}

// redisCall is the deadline of one Check's round trips, made on the first
// one: a Check answered without Redis (+Inf rates, near-limit refusals)
// costs no timer.
type redisCall struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *redisCall) context(timeout time.Duration) context.Context {
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithTimeout(context.Background(), timeout)
	}
	return c.ctx
}

func (c *redisCall) close() {
	if c.cancel != nil {
		c.cancel()
	}
}

// run runs the bucket script on ops with the call's deadline. An expired
// deadline fails without touching the client.
func (rb *redisBackend) run(call *redisCall, ops []bucketOp, now time.Time, out *[MaxRoutePolicies]bucketReply) (bool, error) {
	ctx := call.context(rb.timeout)
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c, err := rb.c.Get()
	if err != nil {
		return false, err
	}
	nowArg, margin := "", expiryMargin
	if rb.callerClock {
		nowArg, margin = strconv.FormatInt(now.UnixMicro(), 10), testExpiryMargin
	}
	return runBuckets(ctx, c, ops, nowArg, margin, out)
}

// checkRedis is Check on Redis buckets. Policies that need no round trip
// are decided first: +Inf rates, and buckets the near-limit cache knows to
// be empty (a refusal). The others go to Redis in as few script calls as
// the store allows, each all or nothing for its takes:
//
//   - a single Redis: one call for all of the phase's policies; at
//     PostAuth it also carries the give-back of the PreAuth tokens, applied
//     only if the call refuses. So a request costs one round trip per
//     phase that has policies, refused or not.
//   - a Cluster: one call per hash tag, i.e. per subject (see
//     redis_script.go): the policies of one phase on the same key (an
//     address under a per-second and a per-minute limit) are still one
//     call; policies on different subjects (an address and the route) are
//     one call each, in route order, and, as before the calls were
//     batched, a refusal gives back with one call per tag the tokens the
//     earlier calls took.
//
// Once refused (by the cache or a call), later calls only look (peek), for
// the largest Retry-After and the RateLimit fields.
func (l *Limiter) checkRedis(now time.Time, rt *Route, phase Phase, s *Subject, d *Decision) bool {
	var call redisCall
	rd := d.rd
	var pending [MaxRoutePolicies]int // policies to ask Redis about, in order
	n := 0
	for i, p := range rt.policies {
		if p.Key.Phase() != phase {
			continue
		}
		st := l.state(now, p)
		cur := st.params.Load()
		r := &d.res[i]
		d.checked |= 1 << i
		if cur.limit == infLimit {
			// Never refuses and keeps no state: no round trip.
			*r = result{remaining: int64(cur.burst)}
			continue
		}
		sum, tag := st.redisDigest(rt, s)
		id := nearID(&sum)
		rd.ids[i] = id
		if wait, ok := rd.rb.near.refused(id, cur, now); ok {
			l.nearLimit.Add(1)
			*r = result{refused: true, reset: max(1, ceilSeconds(wait.Seconds()))}
			d.refuse(r)
			continue
		}
		rd.keys[i] = redisKey(&sum, &tag, st.name)
		copy(rd.tags[i][:], tag[:16])
		pending[n] = i
		n++
	}
	var done uint16 // pending policies already decided
	for k := range n {
		first := pending[k]
		if done&(1<<first) != 0 {
			continue
		}
		// One call: the pending policies with first's tag (all of them on
		// a single Redis).
		var ops [MaxRoutePolicies]bucketOp
		var idx [MaxRoutePolicies]int
		m := 0
		take := !d.refused
		mode := modeTake
		if !take {
			mode = modePeek
		}
		for _, i := range pending[k:n] {
			if done&(1<<i) == 0 && (rd.rb.oneNode || rd.tags[i] == rd.tags[first]) {
				done |= 1 << i
				ops[m] = bucketOp{key: rd.keys[i], mode: mode, p: l.state(now, rt.policies[i]).params.Load()}
				idx[m] = i
				m++
			}
		}
		// Tokens taken at PreAuth ride along, given back if this call
		// refuses (or unconditionally when the request is refused already).
		give := modeGiveIfNone
		if !take {
			give = modeGive
		}
		for i := range d.res {
			if r := &d.res[i]; r.took && r.b == nil && d.checked&(1<<i) != 0 && rt.policies[i].Key.Phase() != phase &&
				(rd.rb.oneNode || rd.tags[i] == rd.tags[first]) && m < MaxRoutePolicies {
				ops[m] = bucketOp{key: rd.keys[i], mode: give, p: l.state(now, rt.policies[i]).params.Load()}
				idx[m] = i
				m++
			}
		}
		l.decideRedis(now, rt, s, d, &call, ops[:m], idx[:m])
	}
	if d.refused {
		l.giveBackAll(now, rt, d, &call)
	}
	call.close()
	return !d.refused
}

// refuse records a refusing policy's result in the decision.
func (d *Decision) refuse(r *result) {
	d.refused = true
	d.retry = max(d.retry, r.reset)
}

// decideRedis makes one script call for ops (policy idx[j] each) and
// records the answers; a store error decides the take and peek policies
// by rate_limit_on_store_error instead (and leaves give-backs undone).
func (l *Limiter) decideRedis(now time.Time, rt *Route, s *Subject, d *Decision, call *redisCall, ops []bucketOp, idx []int) {
	rd := d.rd
	var out [MaxRoutePolicies]bucketReply
	var all bool
	err := errRedisFailed
	if !rd.failed {
		l.redisCalls.Add(1)
		all, err = rd.rb.run(call, ops, now, &out)
		if err != nil {
			l.storeFailed(rd, err)
		}
	}
	for j, op := range ops {
		i := idx[j]
		r := &d.res[i]
		if err != nil {
			if op.mode == modeTake || op.mode == modePeek {
				l.fallback(now, rt, s, rd.rb.onError, op.mode == modeTake && !d.refused, i, r)
				if r.refused {
					d.refuse(r)
				}
			}
			continue
		}
		tokens := out[j].tokens
		switch op.mode {
		case modeTake:
			// As bucket.take reports.
			*r = result{took: all, refused: !out[j].ok}
		case modePeek:
			// As bucket.peek reports.
			*r = result{refused: tokens < 1}
		case modeGive:
			r.took = false
		case modeGiveIfNone:
			if all {
				continue // not given back: the request goes on
			}
			r.took = false
		}
		r.remaining, r.reset = remainingReset(tokens, op.p)
		rd.rb.near.note(rd.ids[i], op.p, now, tokens)
		if r.refused {
			d.refuse(r)
		}
	}
}

var errRedisFailed = errors.New("limiter: an earlier Redis call of this request failed")

// fallback decides policy i by rate_limit_on_store_error.
func (l *Limiter) fallback(now time.Time, rt *Route, s *Subject, mode storeErrorMode, take bool, i int, r *result) {
	l.fallbacks.Add(1)
	st := l.state(now, rt.policies[i])
	switch mode {
	case fallbackLocal:
		l.decideLocal(now, st, st.hash(rt, s), take, r)
	case fallbackAllow:
		// Nothing is known about the bucket: report it full, so the
		// RateLimit field names another policy if one is lower.
		*r = result{remaining: int64(st.params.Load().burst)}
	case fallbackDeny:
		*r = result{refused: true, reset: 1}
	}
}

// giveBackAll returns the tokens a refused request still holds: from local
// buckets (onError local), and from Redis, one call per hash tag (one call
// on a single Redis). When Redis fails now (or failed earlier in the
// request) the Redis tokens are lost: the bucket is one short until it
// refills, which can only refuse early.
func (l *Limiter) giveBackAll(now time.Time, rt *Route, d *Decision, call *redisCall) {
	rd := d.rd
	var left uint16
	for i := range d.res {
		r := &d.res[i]
		if !r.took {
			continue
		}
		if r.b != nil {
			r.b.giveBack(now, r) // taken from a local bucket
			continue
		}
		if rd.failed {
			r.took = false
			continue
		}
		left |= 1 << i
	}
	for i := range d.res {
		if left&(1<<i) == 0 {
			continue
		}
		var ops [MaxRoutePolicies]bucketOp
		var idx [MaxRoutePolicies]int
		m := 0
		for j := i; j < len(d.res); j++ {
			if left&(1<<j) != 0 && (rd.rb.oneNode || rd.tags[j] == rd.tags[i]) {
				left &^= 1 << j
				ops[m] = bucketOp{key: rd.keys[j], mode: modeGive, p: l.state(now, rt.policies[j]).params.Load()}
				idx[m] = j
				m++
			}
		}
		if rd.failed {
			for _, j := range idx[:m] {
				d.res[j].took = false
			}
			continue
		}
		l.decideRedis(now, rt, nil, d, call, ops[:m], idx[:m])
	}
}

func (l *Limiter) storeFailed(rd *redisDecision, err error) {
	rd.failed = true
	l.redisErrors.Add(1)
	l.lastErr.Store(&err)
}
