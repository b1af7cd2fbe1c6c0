package limiter

import (
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// TestRedisStoreErrors: with Redis stopped, each rate_limit_on_store_error
// mode decides as docs/configuration.md says, within about redis_timeout; once Redis
// is back (empty), the same client uses it again.
func TestRedisStoreErrors(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		mode     string
		admitted []bool // three requests of one client while Redis is down (burst 2)
	}{
		{OnStoreErrorLocal, []bool{true, true, false}}, // this replica's own bucket: burst, then refusal
		{OnStoreErrorAllow, []bool{true, true, true}},
		{OnStoreErrorDeny, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			l := redisLimiter(t, redisClient(t, []string{srv.Addr()}, timeout), tt.mode, timeout)
			narrow, wide := ipPolicy("narrow", 0.001, 2), ipPolicy("wide", 0.001, 10)
			rt := newRoute(t, narrow, wide)
			var d Decision
			s := subject("192.0.2.1")
			// Both policies in one script call.
			if !l.Check(time.Now(), rt, PreAuth, s, &d) || l.Stats().RedisCalls != 1 {
				t.Fatalf("Redis up: refused or not asked: %+v", l.Stats())
			}

			srv.Stop()
			for i, want := range tt.admitted {
				start := time.Now()
				got := l.Check(time.Now(), rt, PreAuth, s, &d)
				if took := time.Since(start); took > 5*timeout {
					t.Errorf("request %d took %v with redis_timeout %v", i, took, timeout)
				}
				if got != want {
					t.Fatalf("request %d admitted = %v, want %v", i, got, want)
				}
				if !got && tt.mode == OnStoreErrorDeny && d.RetryAfter() != 1 {
					t.Fatalf("deny: Retry-After = %d, want 1", d.RetryAfter())
				}
			}
			// One error per request: after it, the request's other policy
			// goes straight to the fallback.
			if st := l.Stats(); st.RedisErrors != 3 || st.Fallbacks != 6 || l.LastStoreError() == nil {
				t.Fatalf("stats %+v, last error %v; want 3 errors, 6 fallbacks", st, l.LastStoreError())
			}

			srv.Restart() // empty: no persistence
			other := subject("192.0.2.2")
			deadline := time.Now().Add(10 * time.Second)
			for {
				before := l.Stats().RedisErrors
				l.Check(time.Now(), rt, PreAuth, other, &d)
				if l.Stats().RedisErrors == before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Redis still failing after the restart: %v", l.LastStoreError())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !d.Allowed() {
				t.Fatal("refused by the restarted Redis")
			}
			k := testRedisKey(l, narrow, rt, other)
			if n, _ := srv.Do("EXISTS", k); n != "1" {
				t.Fatal("the restarted Redis holds no bucket: not used again")
			}
		})
	}
	t.Run("hung", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		l := redisLimiter(t, redisClient(t, []string{srv.Addr()}, timeout), OnStoreErrorLocal, timeout)
		tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 0.001, Burst: 2}
		rt := newRoute(t, ipPolicy("per_ip", 0.001, 5), tok)
		s := subject("192.0.2.1")
		s.Token = []byte("client-1")
		var d Decision
		if !checkBoth(l, time.Now(), rt, s, &d) {
			t.Fatal("refused")
		}
		srv.Pause() // connections open, no answers
		defer srv.Resume()
		start := time.Now()
		ok := checkBoth(l, time.Now(), rt, s, &d)
		// PreAuth waits out the deadline; PostAuth knows the store failed.
		if took := time.Since(start); took < timeout || took > 5*timeout {
			t.Errorf("a request took %v on a hung Redis with redis_timeout %v", took, timeout)
		}
		if !ok {
			t.Fatal("local fallback refused a fresh client")
		}
		if st := l.Stats(); st.RedisErrors != 1 || st.Fallbacks != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	replicas := []*Limiter{
		redisLimiter(t, redisClient(t, cl.Addrs(), redisTimeout), OnStoreErrorDeny, redisTimeout),
		redisLimiter(t, redisClient(t, cl.Addrs(), redisTimeout), OnStoreErrorDeny, redisTimeout),
	}
	t.Run("two replicas admit exactly burst", func(t *testing.T) {
		if got := concurrentAdmissions(t, replicas, ipPolicy("per_ip", 0.001, 3), 40); got != 3 {
			t.Fatalf("%d admitted, want burst 3", got)
		}
	})
	t.Run("give-back across slots", func(t *testing.T) {
		rt := newRoute(t, ipPolicy("wide", 0.001, 10), ipPolicy("narrow", 0.001, 2))
		var d Decision
		for i := range 5 {
			if ok := replicas[i%2].Check(time.Now(), rt, PreAuth, subject("192.0.2.1"), &d); ok != (i < 2) {
				t.Fatalf("request %d admitted = %v", i, ok)
			}
		}
		if got := d.res[0].remaining; got != 8 {
			t.Fatalf("wide remaining = %d, want 8", got)
		}
	})
	t.Run("buckets spread over the masters", func(t *testing.T) {
		rt := newRoute(t, ipPolicy("spread", 0.001, 3))
		var d Decision
		s := subject("10.0.0.1")
		for range 60 {
			s.Addr = s.Addr.Next()
			replicas[0].Check(time.Now(), rt, PreAuth, s, &d)
		}
		for _, n := range cl.Nodes {
			if keys := n.Info("keyspace", "db0"); keys == "" {
				t.Errorf("node %s holds no bucket", n.Addr())
			}
		}
	})
	for _, l := range replicas {
		if st := l.Stats(); st.RedisErrors != 0 {
			t.Fatalf("stats %+v, last error %v", st, l.LastStoreError())
		}
	}
}
