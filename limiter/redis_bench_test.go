package limiter

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// Benchmarks against a local redis-server (skipped without one), beside
// the memory buckets' BenchmarkCheck. Besides ns/op and allocations they
// report round-trips/op (EVALSHA and EVAL calls) and redis-cmds/op (every
// command Redis executed, those inside the script included).

var benchIPMinute = &Policy{Name: "per_ip_minute", Key: KeyIP, Rate: 1e9, Burst: 1 << 30}

// BenchmarkRedisCheck is one request through both phases of a client in
// steady state, as BenchmarkCheck, with the buckets in Redis (the server's
// clock, production options). memory/1policy is BenchmarkCheck/1policy
// again, for the side-by-side.
func BenchmarkRedisCheck(b *testing.B) {
	b.Run("memory/1policy", func(b *testing.B) {
		l, rt, s := benchLimiter(b, benchIP)
		var d Decision
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(time.Microsecond)
			if !checkBoth(l, now, rt, s, &d) {
				b.Fatal("refused")
			}
		}
	})
	for _, bc := range []struct {
		name     string
		policies []*Policy
	}{
		{"redis/1policy", []*Policy{benchIP}},
		{"redis/2policies", []*Policy{benchIP, benchToken}},
		// Two limits on the address (PreAuth) and one on the token
		// (PostAuth).
		{"redis/3policies", []*Policy{benchIP, benchIPMinute, benchToken}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			l := redisLimiter(b, redisClient(b, []string{srv.Addr()}, time.Second), OnStoreErrorLocal, time.Second)
			rt := newRoute(b, bc.policies...)
			s := &Subject{Addr: netip.MustParseAddr("192.0.2.1"), Token: []byte("client-1")}
			var d Decision
			checkBoth(l, time.Now(), rt, s, &d)
			redistest.ReportRedis(b, srv, func() {
				for range b.N {
					if !checkBoth(l, time.Now(), rt, s, &d) {
						b.Fatal("refused")
					}
				}
			})
		})
	}
	// A client over its limit that keeps knocking: answered by the
	// near-limit cache, no round trip.
	b.Run("redis/1policy-refused-near-limit", func(b *testing.B) {
		srv := redistest.Start(b)
		l := redisLimiter(b, redisClient(b, []string{srv.Addr()}, time.Second), OnStoreErrorLocal, time.Second)
		rt := newRoute(b, ipPolicy("per_ip", 0.001, 1))
		s := &Subject{Addr: netip.MustParseAddr("192.0.2.1")}
		var d Decision
		l.Check(time.Now(), rt, PreAuth, s, &d)
		redistest.ReportRedis(b, srv, func() {
			for range b.N {
				if l.Check(time.Now(), rt, PreAuth, s, &d) {
					b.Fatal("admitted")
				}
			}
		})
	})
	// 16 goroutines per P, distinct clients: requests in flight at once,
	// each on its own pooled connection.
	b.Run("redis/1policy-parallel16xP", func(b *testing.B) {
		srv := redistest.Start(b)
		l := redisLimiter(b, redisClient(b, []string{srv.Addr()}, time.Second), OnStoreErrorLocal, time.Second)
		rt := newRoute(b, benchIP)
		var next atomic.Uint32
		b.SetParallelism(16)
		redistest.ReportRedis(b, srv, func() {
			b.RunParallel(func(pb *testing.PB) {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], 0xc0000201+next.Add(1))
				s := &Subject{Addr: netip.AddrFrom4(a)}
				var d Decision
				for pb.Next() {
					if !l.Check(time.Now(), rt, PreAuth, s, &d) {
						b.Error("refused")
						return
					}
				}
			})
		})
	})
}
