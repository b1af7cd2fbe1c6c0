package idempotency

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// Benchmarks against a local redis-server (skipped without one). Besides
// ns/op and allocations they report what each operation costs Redis:
// round-trips/op (EVALSHA and EVAL calls) and redis-cmds/op (every command
// Redis executed, those run inside the scripts included).

// benchMaxKeys is max_keys_per_client in the benchmarks that claim new
// keys: every key is one client's, and the default 10 000 would answer
// over_quota within a second. The quota set is kept all the same.
const benchMaxKeys = 1 << 30

// BenchmarkRedisClaimComplete is the forwarded path: a new key claimed and
// its response recorded, two round trips.
func BenchmarkRedisClaimComplete(b *testing.B) {
	for _, mode := range []Mode{ModeConflict, ModeReplay} {
		b.Run(mode.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.OnReuse = mode
			cfg.TTL = 10 * time.Second
			cfg.MaxKeysPerClient = benchMaxKeys
			s, srv := startRedis(b, cfg)
			resp := created()
			scope := make([]byte, 0, 128)
			key := make([]byte, 0, 40)
			i := 0
			redistest.ReportRedis(b, srv, func() {
				for range b.N {
					i++
					key = append(strconv.AppendInt(key[:0], int64(i), 10), "-7dec-11d0-a765-00a0c91e6bf6"...)
					scope = AppendScope(scope[:0], CredentialToken, "client-a", nil, []byte("POST"), "/v1/assets", key)
					r, err := s.Claim(ctx, time.Time{}, scope, fpA)
					if err != nil || r.State != StateClaimed {
						b.Fatal(r, err)
					}
					if err := s.Complete(ctx, time.Time{}, r.Lease, resp); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	// 16 goroutines per P: many requests in flight at once. With timeout,
	// each call has its own deadline as in the gateway (redis_timeout, a
	// generous 1 s here).
	for _, timeout := range []bool{false, true} {
		name := "replay_parallel16xP"
		if timeout {
			name += "_timeout"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.OnReuse = ModeReplay
			cfg.TTL = 10 * time.Second
			cfg.MaxKeysPerClient = benchMaxKeys
			s, srv := startRedis(b, cfg)
			resp := created()
			var n atomic.Int64
			b.SetParallelism(16)
			redistest.ReportRedis(b, srv, func() {
				b.RunParallel(func(pb *testing.PB) {
					scope := make([]byte, 0, 128)
					key := make([]byte, 0, 40)
					for pb.Next() {
						key = append(strconv.AppendInt(key[:0], n.Add(1), 10), "-7dec-11d0-a765-00a0c91e6bf6"...)
						scope = AppendScope(scope[:0], CredentialToken, "client-a", nil, []byte("POST"), "/v1/assets", key)
						c, cancel := ctx, context.CancelFunc(func() {})
						if timeout {
							c, cancel = context.WithTimeout(ctx, time.Second)
						}
						r, err := s.Claim(c, time.Time{}, scope, fpA)
						cancel()
						if err != nil || r.State != StateClaimed {
							b.Error(r, err)
							return
						}
						if timeout {
							c, cancel = context.WithTimeout(ctx, time.Second)
						}
						err = s.Complete(c, time.Time{}, r.Lease, resp)
						cancel()
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkRedisClaimInFlight is a retry while the first request runs: one
// round trip, 42 bytes back.
func BenchmarkRedisClaimInFlight(b *testing.B) {
	s, srv := startRedis(b, DefaultConfig())
	sc := scopeOf("client-a", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	claimR(b, s, sc, fpA, StateClaimed)
	redistest.ReportRedis(b, srv, func() {
		for range b.N {
			if r, _ := s.Claim(ctx, time.Time{}, sc, fpA); r.State != StateInFlight {
				b.Fatal(r.State)
			}
		}
	})
}

// BenchmarkRedisClaimReplay is a retry answered from the stored response.
func BenchmarkRedisClaimReplay(b *testing.B) {
	cfg := DefaultConfig()
	cfg.OnReuse = ModeReplay
	s, srv := startRedis(b, cfg)
	sc := scopeOf("client-a", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	r := claimR(b, s, sc, fpA, StateClaimed)
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		b.Fatal(err)
	}
	redistest.ReportRedis(b, srv, func() {
		for range b.N {
			if r, _ := s.Claim(ctx, time.Time{}, sc, fpA); r.Response == nil {
				b.Fatal("no response")
			}
		}
	})
}
