package limiter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The values of CONFIG.md `store.rate_limit_on_store_error`: what a policy
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
	c       redis.UniversalClient
	onError storeErrorMode
	timeout time.Duration
	near    *nearCache
	// callerClock (tests only) drives the buckets with Check's now instead
	// of the Redis server's TIME, so that a sequence can be replayed on the
	// memory buckets and compared.
	callerClock bool
}

// UseRedis makes the Limiter keep its buckets in Redis (CONFIG.md `[store]
// backend = "redis"`), shared by every replica on the same Redis: from the
// next request on, Check asks Redis for every policy (see the package doc,
// "Shared buckets in Redis"). client is the gateway's shared client (a
// single node or a Cluster, see idempotency.RedisOptions), which must have
// ContextTimeoutEnabled; UseRedis does not contact it. timeout is
// store.redis_timeout: one deadline for all the round trips of one Check.
// onError is store.rate_limit_on_store_error (OnStoreErrorLocal, -Allow or
// -Deny; "" is local).
//
// Call it again after a reload that changed onError or timeout (the same
// client keeps this replica's near-limit cache), and with a nil client to
// go back to memory buckets. A request already between its two Checks
// finishes on the backend it started with.
func (l *Limiter) UseRedis(client redis.UniversalClient, onError string, timeout time.Duration) error {
	if client == nil {
		l.redis.Store(nil)
		return nil
	}
	mode, err := parseOnStoreError(onError)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		return fmt.Errorf("limiter: redis_timeout = %v: write a positive duration such as \"50ms\"", timeout)
	}
	var ctxTimeouts bool
	switch c := client.(type) {
	case *redis.Client:
		ctxTimeouts = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		ctxTimeouts = c.Options().ContextTimeoutEnabled
	default:
		ctxTimeouts = true // another UniversalClient: its owner's business
	}
	if !ctxTimeouts {
		return errors.New("limiter: the redis client must set ContextTimeoutEnabled so that redis_timeout bounds each check (see idempotency.RedisOptions)")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rb := &redisBackend{c: client, onError: mode, timeout: timeout, near: newNearCache()}
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

// run runs the bucket script with the call's deadline. An expired deadline
// fails without touching the client: go-redis would write with a past
// deadline and throw the pooled connection away.
func (rb *redisBackend) run(call *redisCall, key, mode string, p *params, now time.Time) (bool, float64, error) {
	ctx := call.context(rb.timeout)
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	nowArg, margin := "", expiryMargin
	if rb.callerClock {
		nowArg, margin = strconv.FormatInt(now.UnixMicro(), 10), testExpiryMargin
	}
	return runBucket(ctx, rb.c, key, mode, p, nowArg, margin)
}

// checkRedis is Check on Redis buckets: the same walk over the phase's
// policies, each one script (take, or peek once refused), then give-back.
// Policies of one request may sit on different Cluster nodes, so this is
// one script per policy, not one transaction: see the package doc for the
// race that leaves.
func (l *Limiter) checkRedis(now time.Time, rt *Route, phase Phase, s *Subject, d *Decision) bool {
	var call redisCall
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
		} else {
			l.decideRedis(now, rt, s, st, cur, !d.refused, d.rd, i, r, &call)
		}
		if r.refused {
			d.refused = true
			d.retry = max(d.retry, r.reset)
		}
	}
	if d.refused {
		for i := range d.res {
			if r := &d.res[i]; r.took {
				if r.b != nil {
					r.b.giveBack(now, r) // taken from a local bucket (onError local)
				} else {
					l.giveBackRedis(now, rt.policies[i], d.rd, i, r, &call)
				}
			}
		}
	}
	call.close()
	return !d.refused
}

// decideRedis is one policy's decision for s: from the near-limit cache,
// else from Redis, else (a store error) by rate_limit_on_store_error.
func (l *Limiter) decideRedis(now time.Time, rt *Route, s *Subject, st *policyState, cur *params, take bool, rd *redisDecision, i int, r *result, call *redisCall) {
	rb := rd.rb
	sum := st.redisDigest(rt, s)
	id := nearID(&sum)
	rd.ids[i] = id
	if wait, ok := rb.near.refused(id, cur, now); ok {
		l.nearLimit.Add(1)
		*r = result{refused: true, reset: max(1, ceilSeconds(wait.Seconds()))}
		return
	}
	if !rd.failed {
		mode := modeTake
		if !take {
			mode = modePeek
		}
		key := redisKey(&sum, st.name)
		rd.keys[i] = key
		l.redisCalls.Add(1)
		granted, tokens, err := rb.run(call, key, mode, cur, now)
		if err == nil {
			// As bucket.take and bucket.peek report.
			*r = result{took: take && granted, refused: !granted || (!take && tokens < 1)}
			r.remaining, r.reset = remainingReset(tokens, cur)
			rb.near.note(id, cur, now, tokens)
			return
		}
		l.storeFailed(rd, err)
	}
	l.fallbacks.Add(1)
	switch rb.onError {
	case fallbackLocal:
		l.decideLocal(now, st, st.hash(rt, s), take, r)
	case fallbackAllow:
		// Nothing is known about the bucket: report it full, so the
		// RateLimit field names another policy if one is lower.
		*r = result{remaining: int64(cur.burst)}
	case fallbackDeny:
		*r = result{refused: true, reset: 1}
	}
}

// giveBackRedis returns the token policy i took in Redis. When Redis fails
// now (or failed earlier in the request) the token is lost: the bucket is
// one short until it refills, which can only refuse early.
func (l *Limiter) giveBackRedis(now time.Time, p *Policy, rd *redisDecision, i int, r *result, call *redisCall) {
	r.took = false
	if rd.failed {
		return
	}
	cur := l.state(now, p).params.Load()
	l.redisCalls.Add(1)
	_, tokens, err := rd.rb.run(call, rd.keys[i], modeGive, cur, now)
	if err != nil {
		l.storeFailed(rd, err)
		return
	}
	r.remaining, r.reset = remainingReset(tokens, cur)
	rd.rb.near.note(rd.ids[i], cur, now, tokens)
}

func (l *Limiter) storeFailed(rd *redisDecision, err error) {
	rd.failed = true
	l.redisErrors.Add(1)
	l.lastErr.Store(&err)
}
