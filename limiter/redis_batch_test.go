package limiter

import (
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// loadScript loads the bucket script on the servers, so that no call
// counted by scriptCalls is the EVAL that follows a first NOSCRIPT.
func loadScript(t *testing.T, servers ...*redistest.Server) {
	t.Helper()
	for _, s := range servers {
		if _, err := s.Do("SCRIPT", "LOAD", bucketScript); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptCalls counts the script calls (round trips) the servers ran
// during f.
func scriptCalls(t *testing.T, f func(), servers ...*redistest.Server) int64 {
	t.Helper()
	count := func() (n int64) {
		for _, s := range servers {
			_, scripts, err := s.CommandCounts()
			if err != nil {
				t.Fatal(err)
			}
			n += scripts
		}
		return n
	}
	before := count()
	f()
	return count() - before
}

// On a single Redis all of a phase's policies are one script call, and a
// PostAuth refusal gives the PreAuth tokens back in that same call.
func TestRedisOneCallPerPhase(t *testing.T) {
	l, srv := startRedisLimiter(t)
	loadScript(t, srv)
	perSecond, perMinute := ipPolicy("ip_second", 1, 10), ipPolicy("ip_minute", 0.1, 20)
	tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 0.001, Burst: 2}
	hdr := &Policy{Name: "per_key", Key: KeyHeader, Header: "X-Api-Key", Rate: 1, Burst: 50}
	rt := newRoute(t, perSecond, perMinute, tok, hdr)
	s := &Subject{Addr: subject("192.0.2.1").Addr, Token: []byte("client-1"), Header: headers{"X-Api-Key": "k1"}}
	var d Decision
	for i := range 5 {
		var ok bool
		calls := scriptCalls(t, func() { ok = checkBoth(l, t0, rt, s, &d) }, srv)
		if ok != (i < 2) {
			t.Fatalf("request %d admitted = %v", i, ok)
		}
		if calls != 2 {
			t.Fatalf("request %d: %d script calls, want 2 (one per phase)", i, calls)
		}
	}
	// The three refused requests took nothing from the PreAuth buckets.
	for _, c := range []struct {
		p    *Policy
		want string
	}{{perSecond, "8"}, {perMinute, "18"}} {
		v, err := srv.Do("HGET", testRedisKey(l, c.p, rt, s), "t")
		if err != nil || v != c.want {
			t.Fatalf("%s holds %q tokens (%v), want %s", c.p.Name, v, err, c.want)
		}
	}
	if got := d.res[0].remaining; got != 8 {
		t.Fatalf("ip_second remaining = %d, want 8", got)
	}
	if d.RetryAfter() < 1 {
		t.Fatalf("Retry-After = %d", d.RetryAfter())
	}
	// A refusal answered by the near-limit cache sends the rest of the
	// phase in one call, peeks and the PreAuth give-back together.
	if calls := scriptCalls(t, func() {
		if checkBoth(l, t0, rt, s, &d) {
			t.Fatal("admitted")
		}
	}, srv); calls != 2 {
		t.Fatalf("%d script calls, want 2", calls)
	}
}

// In a Cluster one call holds the keys of one hash tag: the policies of one
// phase on the same subject are one call; on different subjects one call
// each, and a refusal gives back what the others took.
func TestRedisClusterCallsPerSubject(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	l := redisLimiter(t, redisClient(t, cl.Addrs(), redisTimeout), OnStoreErrorDeny, redisTimeout)
	loadScript(t, cl.Nodes...)
	t.Run("one subject, one call", func(t *testing.T) {
		rt := newRoute(t, ipPolicy("a", 0.001, 10), ipPolicy("b", 0.001, 2), ipPolicy("c", 0.001, 5))
		var d Decision
		for i := range 4 {
			var ok bool
			calls := scriptCalls(t, func() { ok = l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d) }, cl.Nodes...)
			if ok != (i < 2) || calls != 1 {
				t.Fatalf("request %d: admitted = %v with %d calls; want %v with 1", i, ok, calls, i < 2)
			}
		}
		if got := d.res[0].remaining; got != 8 {
			t.Fatalf("a remaining = %d, want 8", got)
		}
	})
	t.Run("two subjects, a call each and a give-back", func(t *testing.T) {
		cert := &Policy{Name: "per_cert", Key: KeyClientCert, Rate: 0.001, Burst: 2}
		rt := newRoute(t, ipPolicy("wide", 0.001, 10), cert)
		s := &Subject{Addr: subject("192.0.2.2").Addr, ClientCert: []byte("CN=svc-a")}
		var d Decision
		for i := range 2 {
			var ok bool
			calls := scriptCalls(t, func() { ok = l.Check(time.Now(), rt, PreAuth, s, &d) }, cl.Nodes...)
			if !ok || calls != 2 {
				t.Fatalf("request %d: admitted = %v with %d calls; want true with 2", i, ok, calls)
			}
		}
		// Another replica, whose near-limit cache does not know the
		// certificate's bucket is empty: wide takes, per_cert refuses, wide
		// gets its token back.
		other := redisLimiter(t, redisClient(t, cl.Addrs(), redisTimeout), OnStoreErrorDeny, redisTimeout)
		var ok bool
		calls := scriptCalls(t, func() { ok = other.Check(time.Now(), rt, PreAuth, s, &d) }, cl.Nodes...)
		if ok || calls != 3 {
			t.Fatalf("admitted = %v with %d calls; want false with 3", ok, calls)
		}
		if got := d.res[0].remaining; got != 8 {
			t.Fatalf("wide remaining = %d, want 8", got)
		}
		// Now known to be empty: the refusal costs one call, a look at wide.
		calls = scriptCalls(t, func() { ok = other.Check(time.Now(), rt, PreAuth, s, &d) }, cl.Nodes...)
		if ok || calls != 1 || d.res[0].remaining != 8 {
			t.Fatalf("admitted = %v with %d calls, wide remaining %d; want false with 1, 8", ok, calls, d.res[0].remaining)
		}
	})
	if st := l.Stats(); st.RedisErrors != 0 {
		t.Fatalf("stats %+v, last error %v", st, l.LastStoreError())
	}
}

// The gateway starts while Redis is down: checks fall back at once, and
// the same client uses Redis when it comes up.
func TestRedisStartWhileDown(t *testing.T) {
	t.Run("single server", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Stop()
		const timeout = 200 * time.Millisecond
		l := redisLimiter(t, redisClient(t, []string{srv.Addr()}, timeout), OnStoreErrorAllow, timeout)
		rt := newRoute(t, ipPolicy("per_ip", 0.001, 5))
		var d Decision
		start := time.Now()
		if !l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d) {
			t.Fatal("allow mode refused while Redis is down")
		}
		if took := time.Since(start); took > 5*timeout {
			t.Fatalf("a check took %v while Redis is down", took)
		}
		if st := l.Stats(); st.RedisErrors != 1 || st.Fallbacks != 1 {
			t.Fatalf("stats %+v", st)
		}
		srv.Restart()
		deadline := time.Now().Add(10 * time.Second)
		for {
			before := l.Stats().RedisErrors
			l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d)
			if l.Stats().RedisErrors == before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Redis not used after it came up: %v", l.LastStoreError())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n, _ := srv.Do("DBSIZE"); n != "1" {
			t.Fatalf("Redis holds %s keys, want the bucket", n)
		}
	})
	t.Run("cluster seeds down", func(t *testing.T) {
		a, b := redistest.Start(t), redistest.Start(t)
		a.Stop()
		b.Stop()
		c := redisClient(t, []string{a.Addr(), b.Addr()}, 100*time.Millisecond)
		l := redisLimiter(t, c, OnStoreErrorDeny, 100*time.Millisecond)
		rt := newRoute(t, ipPolicy("per_ip", 0.001, 5))
		var d Decision
		for range 3 {
			if l.Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d) || d.RetryAfter() != 1 {
				t.Fatal("deny mode: want 429 with Retry-After 1 while the Cluster is unreachable")
			}
		}
		if l.LastStoreError() == nil {
			t.Fatal("no store error while the Cluster is unreachable")
		}
		// redisconn's tests check that no client is made with no seed
		// node up, and that it is retried at most once a second.
	})
}
