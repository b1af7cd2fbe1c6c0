package limiter

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"time"
)

// MaxRoutePolicies is the most policies one route may list; a Decision
// holds their results in a fixed array so that checking allocates nothing.
const MaxRoutePolicies = 8

// Route is the rate-limit view of one route of one config: its policies in
// the route's order and its precomputed RateLimit-Policy field. Build it
// once per config load with NewRoute.
type Route struct {
	name        []byte
	policies    []*Policy
	policyField []byte
}

// NewRoute prepares the policies of the route called name (the key of
// route-keyed policies, so keep it stable across reloads: the path pattern
// is a good name). The order of policies is the route's config order.
func NewRoute(name string, policies []*Policy) (*Route, error) {
	if len(policies) > MaxRoutePolicies {
		return nil, fmt.Errorf("route %q lists %d rate limits: at most %d are allowed", name, len(policies), MaxRoutePolicies)
	}
	for i, p := range policies {
		if p == nil {
			return nil, fmt.Errorf("route %q: rate limit %d is nil", name, i)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("route %q: %w", name, err)
		}
		for _, q := range policies[:i] {
			if q.Name == p.Name {
				return nil, fmt.Errorf("route %q lists rate limit %q twice: list each policy once", name, p.Name)
			}
		}
	}
	return &Route{
		name:        []byte(name),
		policies:    policies,
		policyField: AppendPolicyField(nil, policies),
	}, nil
}

// Policies returns the route's policies in order (do not modify).
func (rt *Route) Policies() []*Policy { return rt.policies }

// PolicyField returns the precomputed RateLimit-Policy field value, or nil
// when the route has no policies (then send no RateLimit fields). The slice
// is shared: do not modify it.
func (rt *Route) PolicyField() []byte {
	if rt == nil {
		return nil
	}
	return rt.policyField
}

// HeaderPeeker reads a request header; *fasthttp.RequestHeader is one.
type HeaderPeeker interface {
	Peek(key string) []byte
}

// Subject is who a request comes from, as far as the proxy knows at the
// phase being checked. A key that is absent (no token on an anonymous
// request, a missing header, no client certificate) falls back to the
// client address, counted apart from the policy's own keys: requests
// without a key are limited per client, never all together.
type Subject struct {
	Addr       netip.Addr   // the client address, from ClientIP
	ClientCert []byte       // verified certificate subject (PreAuth)
	Token      []byte       // authenticated token id (PostAuth)
	Header     HeaderPeeker // request headers, for header:<Name> keys
}

// Decision collects the results of both phases of one request on one route.
// Keep it with the request (it is a plain value, about 300 bytes) and pass
// the same one to both Check calls.
type Decision struct {
	route   *Route
	refused bool
	retry   int64
	checked uint16 // bit i: route policy i was checked
	res     [MaxRoutePolicies]result
	rd      *redisDecision // set at PreAuth when the buckets are in Redis
}

type result struct {
	b         *bucket // the bucket a token was taken from, for give-back
	remaining int64   // RateLimit r
	reset     int64   // RateLimit t
	took      bool
	refused   bool
}

// Check applies the route's policies of one phase to the request at time
// now and records the outcome in d; it reports whether the request may go
// on. Call it with PreAuth at README.md step 6 (this resets d) and, if the
// request gets that far, with PostAuth and the same d at step 8.
//
// Every policy must admit. A refused request consumes nothing: the tokens
// it took from the other policies, in either phase, are given back (the
// refusing bucket was never charged), and policies after the refusing one
// are only looked at, for the Retry-After of several refusals. A request
// that is admitted at PreAuth and then fails authentication keeps its
// PreAuth tokens: that is what throttles token guessing.
//
// With memory buckets it allocates nothing for a key that already has a
// bucket, and none of its arguments escape (the proxy keeps s and d in its
// request state). With UseRedis, the phase's policies are one round trip
// on a single Redis, one per subject in a Cluster (see the package doc),
// all bounded by redis_timeout.
func (l *Limiter) Check(now time.Time, rt *Route, phase Phase, s *Subject, d *Decision) bool {
	if phase == PreAuth || d.route != rt {
		*d = Decision{route: rt}
		if rb := l.redis.Load(); rb != nil && rt != nil {
			d.rd = &redisDecision{rb: rb}
		}
	}
	if rt == nil || d.refused {
		return !d.refused
	}
	if s == nil {
		s = &Subject{}
	}
	if d.rd != nil {
		return l.checkRedis(now, rt, phase, s, d)
	}
	for i, p := range rt.policies {
		if p.Key.Phase() != phase {
			continue
		}
		st := l.state(now, p)
		r := &d.res[i]
		d.checked |= 1 << i
		l.decideLocal(now, st, st.hash(rt, s), !d.refused, r)
		if r.refused {
			d.refused = true
			d.retry = max(d.retry, r.reset)
		}
	}
	if d.refused {
		for i := range d.res {
			if r := &d.res[i]; r.took {
				r.b.giveBack(now, r)
			}
		}
	}
	return !d.refused
}

// decideLocal is one policy's decision on this replica's bucket for hash h:
// take a token, or, when the request is already refused (take false), look
// without taking, so the bucket is not charged for a request that will not
// be served.
func (l *Limiter) decideLocal(now time.Time, st *policyState, h uint64, take bool, r *result) {
	if !take {
		if b := l.lookup(now, h, st, false); b != nil {
			b.peek(now, st.params.Load(), r)
		} else {
			// No bucket: the key would start full.
			*r = result{remaining: int64(st.params.Load().burst)}
		}
		return
	}
	b := l.lookup(now, h, st, true)
	b.take(now, st.params.Load(), r)
	if r.b != b {
		// The cache held a bucket that was adopted into another (see
		// adopt): put the live one in its place.
		l.offer(h, r.b)
	}
}

// hash places the key of s for this policy in the store. The seeds are
// random per process and per policy, so keys of different policies never
// share a bucket and nobody can aim two keys at one 64-bit slot.
func (st *policyState) hash(rt *Route, s *Subject) uint64 {
	var key []byte
	switch st.key {
	case KeyIP:
		return addrHash(st.seed, s.Addr)
	case KeyRoute:
		return maphash.Bytes(st.seed, rt.name)
	case KeyToken:
		key = s.Token
	case KeyClientCert:
		key = s.ClientCert
	case KeyHeader:
		if s.Header != nil {
			key = s.Header.Peek(st.header)
		}
	}
	if len(key) == 0 {
		return addrHash(st.fallback, s.Addr)
	}
	return maphash.Bytes(st.seed, key)
}

func addrHash(seed maphash.Seed, a netip.Addr) uint64 {
	k := AddrKey(a)
	return maphash.Bytes(seed, k[:])
}

// AddrKey is the bucket key of a client address: IPv4 (also IPv4-mapped
// IPv6) by address, IPv6 by its /64 prefix: one host may use any address of
// its /64 (temporary addresses, RFC 8981), while distinct subscribers never
// share one (end sites get a /64 or more, RFC 6177). The zero Addr (an
// unknown peer) is one key.
func AddrKey(a netip.Addr) [16]byte {
	a = a.Unmap()
	k := a.As16() // zero Addr gives all zeros
	if a.Is6() {
		clear(k[8:])
	}
	return k
}

// Allowed reports whether every policy checked so far admitted the request.
func (d *Decision) Allowed() bool { return !d.refused }

// RetryAfter is the Retry-After of a refused request in seconds: t of the
// refusing policy, the largest when several refuse (at least 1); 0 when the
// request was admitted.
func (d *Decision) RetryAfter() int64 {
	if !d.refused {
		return 0
	}
	return d.retry
}

// Item is the policy the RateLimit field reports on.
type Item struct {
	Policy    *Policy
	Quota     int64 // q, the burst (X-RateLimit-Limit)
	Remaining int64 // r (X-RateLimit-Remaining)
	Reset     int64 // t, seconds (X-RateLimit-Reset)
}

// Item returns the policy with the fewest whole tokens left among those
// checked, the first in route order on a tie; false when none was checked.
func (d *Decision) Item() (Item, bool) {
	best := -1
	for i := range d.res {
		if d.checked&(1<<i) != 0 && (best < 0 || d.res[i].remaining < d.res[best].remaining) {
			best = i
		}
	}
	if best < 0 {
		return Item{}, false
	}
	p, r := d.route.policies[best], &d.res[best]
	return Item{Policy: p, Quota: int64(p.Burst), Remaining: r.remaining, Reset: r.reset}, true
}
