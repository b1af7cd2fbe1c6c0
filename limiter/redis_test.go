package limiter

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// These tests run against real redis-server processes (internal/redistest)
// and are skipped where none is installed. Most drive the buckets with the
// test's clock (callerClock) so that results are exact; the replica and
// failure tests use the server's TIME, as production does.

// redisTimeout is the client's timeout: generous, for a shared machine
// under the race detector. The store-error tests use a short one.
const redisTimeout = 2 * time.Second

// redisClient is the client the proxy builds.
func redisClient(tb testing.TB, addrs []string, timeout time.Duration) *redisconn.Client {
	tb.Helper()
	c, err := redisconn.NewClient(addrs, redisconn.New("", timeout))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func redisLimiter(tb testing.TB, c *redisconn.Client, onError string, timeout time.Duration) *Limiter {
	tb.Helper()
	l := newLimiter(tb, MinBudget)
	if err := l.UseRedis(c, onError, timeout); err != nil {
		tb.Fatal(err)
	}
	return l
}

// withCallerClock makes l's Redis buckets follow Check's now. Call it
// before the first Check.
func withCallerClock(l *Limiter) *Limiter {
	l.redis.Load().callerClock = true
	return l
}

// testRedisKey is the Redis key of s's bucket of p.
func testRedisKey(l *Limiter, p *Policy, rt *Route, s *Subject) string {
	sum, tag := l.state(t0, p).redisDigest(rt, s)
	return redisKey(&sum, &tag, p.Name)
}

func startRedisLimiter(tb testing.TB) (*Limiter, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb)
	return withCallerClock(redisLimiter(tb, redisClient(tb, []string{srv.Addr()}, redisTimeout), OnStoreErrorLocal, redisTimeout)), srv
}

func TestRedisAdmissionCounts(t *testing.T) {
	l, _ := startRedisLimiter(t)
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"a full bucket admits exactly burst at once", 10, 5, []step{{0, 7, 5}}},
		{"refill is rate tokens per second", 10, 5, []step{{0, 5, 5}, {100 * time.Millisecond, 3, 1}, {350 * time.Millisecond, 3, 2}}},
		{"refill never exceeds burst", 10, 5, []step{{0, 5, 5}, {time.Hour, 9, 5}}},
		{"refused requests consume nothing", 1, 1, []step{{0, 1, 1}, {500 * time.Millisecond, 100, 0}, {time.Second, 2, 1}}},
		{"half a token per second admits every two seconds", 0.5, 1, []step{{0, 2, 1}, {time.Second, 1, 0}, {2 * time.Second, 2, 1}, {3999 * time.Millisecond, 1, 0}, {4 * time.Second, 1, 1}}},
		{"fractional rate above one", 2.5, 3, []step{{0, 3, 3}, {400 * time.Millisecond, 2, 1}, {1200 * time.Millisecond, 3, 2}}},
		{"burst of one is one at a time", 100, 1, []step{{0, 3, 1}, {9 * time.Millisecond, 1, 0}, {10 * time.Millisecond, 1, 1}}},
		{"an infinite rate never refuses", inf, 1, []step{{0, 1000, 1000}}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRoute(t, ipPolicy(fmt.Sprintf("p%d", i), tt.rate, tt.burst))
			var d Decision
			for _, s := range tt.steps {
				got := 0
				for range s.requests {
					if l.Check(at(s.at), rt, PreAuth, subject("192.0.2.1"), &d) {
						got++
					}
				}
				if got != s.admitted {
					t.Fatalf("at %v: %d of %d admitted, want %d", s.at, got, s.requests, s.admitted)
				}
			}
		})
	}
	if st := l.Stats(); st.RedisErrors != 0 || st.Fallbacks != 0 || st.RedisCalls == 0 || st.NearLimit == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// On the server's clock: a burst, then refusals with an honest Retry-After.
func TestRedisServerClockBurstThenRefusal(t *testing.T) {
	srv := redistest.Start(t)
	l := redisLimiter(t, redisClient(t, []string{srv.Addr()}, redisTimeout), OnStoreErrorLocal, redisTimeout)
	rt := newRoute(t, ipPolicy("per_ip", 0.01, 4)) // refills one token in 100 s
	var d Decision
	for i := range 4 {
		if !l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d) {
			t.Fatalf("request %d of the burst refused", i)
		}
		if it, _ := d.Item(); it.Remaining != int64(3-i) {
			t.Fatalf("request %d: r = %d, want %d", i, it.Remaining, 3-i)
		}
	}
	for range 3 {
		if l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d) {
			t.Fatal("admitted past the burst")
		}
		if ra := d.RetryAfter(); ra < 99 || ra > 100 {
			t.Fatalf("Retry-After = %d, want 100 (one token at 0.01/s)", ra)
		}
	}
	if !l.Check(time.Now(), rt, PreAuth, subject("192.0.2.2"), &d) {
		t.Fatal("another client refused")
	}
}

// TestRedisMatchesMemory replays one random sequence of requests (several
// policies per route, both phases, fallback keys, times that repeat and
// jitter backwards) on memory buckets and on Redis buckets, and requires
// the same decision, Retry-After and token counts for every request.
func TestRedisMatchesMemory(t *testing.T) {
	red, _ := startRedisLimiter(t)
	mem := newLimiter(t, MinBudget)
	pa := ipPolicy("a", 2.5, 3)
	pb := ipPolicy("b", 10, 5)
	pc := &Policy{Name: "c", Key: KeyToken, Rate: 0.5, Burst: 2}
	pd := &Policy{Name: "d", Key: KeyRoute, Rate: 100, Burst: 1}
	pe := &Policy{Name: "e", Key: KeyHeader, Header: "X-Api-Key", Rate: 1, Burst: 2}
	pf := &Policy{Name: "f", Key: KeyClientCert, Rate: 0.3, Burst: 4}
	routes := []*Route{
		newRoute(t, pa),
		newRoute(t, pb, pc),
		newRoute(t, pa, pc, pd),
		newRoute(t, pe, pb),
		newRoute(t, pf, pc, pe),
	}
	var subjects []*Subject
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
		for _, tok := range []string{"", "client-1", "client-2"} {
			s := subject(ip)
			if tok != "" {
				s.Token = []byte(tok)
				s.ClientCert = []byte("CN=" + tok)
				s.Header = headers{"X-Api-Key": tok}
			}
			subjects = append(subjects, s)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 1500
	if testing.Short() {
		n = 300
	}
	now := t0
	for i := range n {
		switch rng.IntN(4) {
		case 0: // same instant
		case 1:
			now = now.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
		default:
			now = now.Add(time.Duration(rng.IntN(150)) * time.Millisecond)
		}
		when := now
		if rng.IntN(10) == 0 {
			when = when.Add(-time.Duration(rng.IntN(50)) * time.Millisecond) // a late arrival
		}
		rt := routes[rng.IntN(len(routes))]
		s := subjects[rng.IntN(len(subjects))]
		var dm, dr Decision
		okm := checkBoth(mem, when, rt, s, &dm)
		okr := checkBoth(red, when, rt, s, &dr)
		if okm != okr || dm.RetryAfter() != dr.RetryAfter() || dm.checked != dr.checked {
			t.Fatalf("request %d at %v: memory ok=%v retry=%d checked=%b, redis ok=%v retry=%d checked=%b",
				i, when.Sub(t0), okm, dm.RetryAfter(), dm.checked, okr, dr.RetryAfter(), dr.checked)
		}
		for j := range rt.policies {
			m, r := dm.res[j], dr.res[j]
			if dm.checked&(1<<j) != 0 && (m.remaining != r.remaining || m.reset != r.reset || m.refused != r.refused) {
				t.Fatalf("request %d at %v, policy %s: memory r=%d t=%d refused=%v, redis r=%d t=%d refused=%v",
					i, when.Sub(t0), rt.policies[j].Name, m.remaining, m.reset, m.refused, r.remaining, r.reset, r.refused)
			}
		}
	}
	st := red.Stats()
	t.Logf("redis stats %+v", st)
	if st.RedisErrors != 0 || st.NearLimit == 0 {
		t.Fatalf("stats %+v: want no errors and some near-limit refusals", st)
	}
}

// TestRedisKeys: the keys follow the memory rules (see TestKeysAreSeparate)
// and every replica derives the same one.
func TestRedisKeys(t *testing.T) {
	tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 1, Burst: 1}
	hdr := &Policy{Name: "per_key", Key: KeyHeader, Header: "X-Api-Key", Rate: 1, Burst: 1}
	ip := ipPolicy("per_ip", 1, 1)
	ip2 := ipPolicy("per_ip2", 1, 1)
	route := &Policy{Name: "per_route", Key: KeyRoute, Rate: 1, Burst: 1}
	a, b := newLimiter(t, MinBudget), newLimiter(t, MinBudget) // two replicas
	rt := newRoute(t, route)
	other, _ := NewRoute("/other", []*Policy{route})
	key := testRedisKey
	tests := []struct {
		name   string
		p, q   *Policy
		ra, rb *Route
		a, b   *Subject
		shared bool
	}{
		{"an address is the same key on every replica", ip, ip, rt, rt, subject("192.0.2.1"), subject("192.0.2.1"), true},
		{"two addresses have two keys", ip, ip, rt, rt, subject("192.0.2.1"), subject("192.0.2.2"), false},
		{"two policies have two keys", ip, ip2, rt, rt, subject("192.0.2.1"), subject("192.0.2.1"), false},
		{"an IPv4-mapped address is the IPv4 address", ip, ip, rt, rt, subject("192.0.2.3"), subject("::ffff:192.0.2.3"), true},
		{"IPv6 addresses share their /64", ip, ip, rt, rt, subject("2001:db8::1"), subject("2001:db8::ffff:1"), true},
		{"one token from two addresses is one key", tok, tok, rt, rt,
			&Subject{Token: []byte("c"), Addr: subject("192.0.2.4").Addr}, &Subject{Token: []byte("c"), Addr: subject("192.0.2.5").Addr}, true},
		{"no token falls back to the address", tok, tok, rt, rt, subject("192.0.2.6"), subject("192.0.2.6"), true},
		{"the fallback never meets a token of the same bytes", tok, tok, rt, rt, subject("0.0.0.0"), &Subject{Token: make([]byte, 16)}, false},
		{"header values are keys", hdr, hdr, rt, rt, &Subject{Header: headers{"X-Api-Key": "k1"}}, &Subject{Header: headers{"X-Api-Key": "k2"}}, false},
		{"the route is one key for all clients", route, route, rt, rt, subject("192.0.2.1"), subject("192.0.2.2"), true},
		{"two routes have two keys", route, route, rt, other, subject("192.0.2.1"), subject("192.0.2.1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := key(a, tt.p, tt.ra, tt.a), key(b, tt.q, tt.rb, tt.b)
			if (ka == kb) != tt.shared {
				t.Fatalf("keys %q and %q: shared = %v, want %v", ka, kb, ka == kb, tt.shared)
			}
		})
	}
	// The key bytes never reach Redis.
	secret := &Subject{Header: headers{"X-Api-Key": "sk_live_secret"}}
	if k := key(a, hdr, rt, secret); len(k) != len("cgw:rl:{}::")+64+len("per_key") {
		t.Fatalf("key %q", k)
	}
}

// Two replicas (each its own Limiter and connection pool) on one Redis
// admit exactly burst between them, whatever the interleaving.
func TestRedisTwoReplicasShareTheBurst(t *testing.T) {
	srv := redistest.Start(t)
	replicas := []*Limiter{
		redisLimiter(t, redisClient(t, []string{srv.Addr()}, redisTimeout), OnStoreErrorDeny, redisTimeout),
		redisLimiter(t, redisClient(t, []string{srv.Addr()}, redisTimeout), OnStoreErrorDeny, redisTimeout),
	}
	if got := concurrentAdmissions(t, replicas, ipPolicy("per_ip", 0.001, 3), 40); got != 3 {
		t.Fatalf("%d admitted across two replicas, want burst 3", got)
	}
	for _, l := range replicas {
		if st := l.Stats(); st.RedisErrors != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
}

// concurrentAdmissions sends n requests of one client at once, spread over
// the replicas, and returns how many were admitted.
func concurrentAdmissions(t *testing.T, replicas []*Limiter, p *Policy, n int) int64 {
	t.Helper()
	rt := newRoute(t, p)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		l := replicas[i%len(replicas)]
		wg.Go(func() {
			<-start
			var d Decision
			if l.Check(time.Now(), rt, PreAuth, subject("198.51.100.7"), &d) {
				admitted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return admitted.Load()
}

func TestRedisGiveBack(t *testing.T) {
	wide := ipPolicy("wide", 1, 10)
	narrow := ipPolicy("narrow", 1, 2)
	tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 1, Burst: 3}
	stored := func(t *testing.T, l *Limiter, srv *redistest.Server, p *Policy, rt *Route, s *Subject) string {
		t.Helper()
		k := testRedisKey(l, p, rt, s)
		v, err := srv.Do("HGET", k, "t")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Run("a refusal in the same phase gives back the tokens the others took", func(t *testing.T) {
		l, srv := startRedisLimiter(t)
		rt := newRoute(t, wide, narrow)
		var d Decision
		s := subject("192.0.2.1")
		for i := range 5 {
			if ok := checkBoth(l, t0, rt, s, &d); ok != (i < 2) {
				t.Fatalf("request %d admitted = %v", i, ok)
			}
		}
		if got := d.res[0].remaining; got != 8 {
			t.Fatalf("wide remaining = %d, want 8 (10 - 2 admitted)", got)
		}
		if v := stored(t, l, srv, wide, rt, s); v != "8" {
			t.Fatalf("wide holds %q tokens in Redis, want 8", v)
		}
	})
	t.Run("a PostAuth refusal gives back the PreAuth tokens", func(t *testing.T) {
		l, srv := startRedisLimiter(t)
		rt := newRoute(t, wide, tok)
		var d Decision
		s := subject("192.0.2.1")
		s.Token = []byte("client-1")
		for i := range 6 {
			if ok := checkBoth(l, t0, rt, s, &d); ok != (i < 3) {
				t.Fatalf("request %d admitted = %v", i, ok)
			}
		}
		if v := stored(t, l, srv, wide, rt, s); v != "7" {
			t.Fatalf("wide holds %q tokens in Redis, want 7 (10 - 3 admitted)", v)
		}
		if d.RetryAfter() != 1 {
			t.Fatalf("Retry-After = %d, want 1", d.RetryAfter())
		}
	})
	t.Run("a bucket given back to full is deleted", func(t *testing.T) {
		l, srv := startRedisLimiter(t)
		rt := newRoute(t, wide, tok)
		var d Decision
		s := &Subject{Addr: subject("192.0.2.9").Addr, Token: []byte("client-2")}
		for range 3 {
			checkBoth(l, t0, rt, s, &d) // spend the token bucket
		}
		k := testRedisKey(l, wide, rt, s)
		if _, err := srv.Do("DEL", k); err != nil { // wide as if expired: full
			t.Fatal(err)
		}
		if checkBoth(l, t0, rt, s, &d) {
			t.Fatal("admitted")
		}
		if n, _ := srv.Do("EXISTS", k); n != "0" {
			t.Fatal("the refilled wide bucket is stored")
		}
	})
}

// An idle key vanishes once it would have refilled.
func TestRedisKeyExpiresWhenFull(t *testing.T) {
	srv := redistest.Start(t)
	l := redisLimiter(t, redisClient(t, []string{srv.Addr()}, redisTimeout), OnStoreErrorLocal, redisTimeout)
	p := ipPolicy("per_ip", 2, 5)
	rt := newRoute(t, p)
	var d Decision
	s := subject("192.0.2.1")
	for range 3 {
		l.Check(time.Now(), rt, PreAuth, s, &d)
	}
	k := testRedisKey(l, p, rt, s)
	v, err := srv.Do("PTTL", k)
	if err != nil {
		t.Fatal(err)
	}
	// 3 tokens at 2/s: 1.5 s, plus the second of margin.
	if ms, _ := strconv.Atoi(v); ms < 1500 || ms > 2501 {
		t.Fatalf("PTTL = %s ms, want about 2500", v)
	}
}

func TestRedisNearLimitCacheSkipsRoundTrips(t *testing.T) {
	l, _ := startRedisLimiter(t)
	rt := newRoute(t, ipPolicy("per_ip", 0.5, 1))
	var d Decision
	s := subject("192.0.2.1")
	if !l.Check(t0, rt, PreAuth, s, &d) {
		t.Fatal("first refused")
	}
	calls := l.Stats().RedisCalls
	for range 5 {
		if l.Check(at(time.Second), rt, PreAuth, s, &d) {
			t.Fatal("admitted before the next token")
		}
		if it, _ := d.Item(); d.RetryAfter() != 1 || it.Remaining != 0 || it.Reset != 1 {
			t.Fatalf("Retry-After %d, item %+v", d.RetryAfter(), it)
		}
	}
	st := l.Stats()
	if st.RedisCalls != calls || st.NearLimit != 5 {
		t.Fatalf("stats %+v: refusals went to Redis", st)
	}
	if !l.Check(at(2*time.Second), rt, PreAuth, s, &d) {
		t.Fatal("refused once the token is due")
	}
	if got := l.Stats().RedisCalls; got != calls+1 {
		t.Fatalf("RedisCalls = %d, want %d", got, calls+1)
	}
}

func TestRedisReloadAppliesFromTheNextCall(t *testing.T) {
	l, _ := startRedisLimiter(t)
	before := ipPolicy("p", 1, 5)
	if err := l.Update(t0, []*Policy{before}); err != nil {
		t.Fatal(err)
	}
	var d Decision
	s := subject("192.0.2.1")
	rt := newRoute(t, before)
	for range 5 {
		l.Check(t0, rt, PreAuth, s, &d)
	}
	after := ipPolicy("p", 10, 50)
	if err := l.Update(t0, []*Policy{after}); err != nil {
		t.Fatal(err)
	}
	rt = newRoute(t, after)
	// 1 s at the old rate (applied from the next call): 1 token, not 50.
	got := 0
	for range 5 {
		if l.Check(at(time.Second), rt, PreAuth, s, &d) {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d admitted after the reload, want 1", got)
	}
	// From then on, 10/s.
	got = 0
	for range 5 {
		if l.Check(at(1500*time.Millisecond), rt, PreAuth, s, &d) {
			got++
		}
	}
	if got != 5 {
		t.Fatalf("%d admitted 0.5 s later at 10/s, want 5", got)
	}
}

func TestUseRedisValidates(t *testing.T) {
	l := newLimiter(t, MinBudget)
	ok := redisClient(t, []string{"127.0.0.1:1"}, time.Second)
	tests := []struct {
		name    string
		c       *redisconn.Client
		onError string
		timeout time.Duration
		ok      bool
	}{
		{"local, allow and deny are the modes", ok, OnStoreErrorAllow, time.Second, true},
		{"an empty mode is local", ok, "", time.Second, true},
		{"another mode is refused", ok, "open", time.Second, false},
		{"a timeout is required", ok, OnStoreErrorLocal, 0, false},
		{"nil goes back to memory", nil, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.UseRedis(tt.c, tt.onError, tt.timeout); (err == nil) != tt.ok {
				t.Fatalf("UseRedis: %v, want ok = %v", err, tt.ok)
			}
		})
	}
	if l.redis.Load() != nil {
		t.Fatal("still on Redis after UseRedis(nil)")
	}
}
