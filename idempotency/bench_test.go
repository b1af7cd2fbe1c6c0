package idempotency

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

func BenchmarkParseKey(b *testing.B) {
	for _, bc := range []struct{ name, value string }{
		{"bare", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
		{"quoted", `"f81d4fae-7dec-11d0-a765-00a0c91e6bf6"`},
		{"escaped", `"f81d4fae-7dec-11d0-a765-\"00a0c91e6bf6\""`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			values := [][]byte{[]byte(bc.value)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseKey(values); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFingerprint1KiB(b *testing.B) {
	m, p, q, body := []byte("POST"), []byte("/v1/assets"), []byte("expand=owner"), bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		NewFingerprint(m, p, q, body)
	}
}

func BenchmarkAppendScope(b *testing.B) {
	buf := make([]byte, 0, 128)
	method, key := []byte("POST"), []byte("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendScope(buf[:0], CredentialToken, "client-a", nil, method, "/v1/assets", key)
	}
}

// BenchmarkClaimComplete is the forwarded path: a new key is claimed and its
// response recorded. The injected clock advances 1µs per request with a
// 10ms ttl, so the store holds a steady ~10,000 records and every operation
// also pays its share of the expiry sweep.
func BenchmarkClaimComplete(b *testing.B) {
	for _, mode := range []Mode{ModeConflict, ModeReplay} {
		b.Run(mode.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.OnReuse = mode
			cfg.TTL = 10 * time.Millisecond
			cfg.LockTimeout = 5 * time.Millisecond
			m := newMemory(b, cfg)
			resp := created()
			scope := make([]byte, 0, 128)
			key := make([]byte, 0, 40)
			now := t0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				now = now.Add(time.Microsecond)
				key = append(strconv.AppendInt(key[:0], int64(i), 10), "-7dec-11d0-a765-00a0c91e6bf6"...)
				scope = AppendScope(scope[:0], CredentialToken, "client-a", nil, []byte("POST"), "/v1/assets", key)
				r, err := m.Claim(ctx, now, scope, fpA)
				if err != nil || r.State != StateClaimed {
					b.Fatal(r, err)
				}
				if err := m.Complete(ctx, now, r.Lease, resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClaimConflict is a retry of a known key: a lookup that answers
// 409 (in flight, or used in conflict mode).
func BenchmarkClaimConflict(b *testing.B) {
	setup := func(b *testing.B, complete bool) (*Memory, []byte) {
		m := newMemory(b, DefaultConfig())
		sc := scopeOf("client-a", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
		r, err := m.Claim(ctx, t0, sc, fpA)
		if err != nil {
			b.Fatal(err)
		}
		if complete {
			if err := m.Complete(ctx, t0, r.Lease, created()); err != nil {
				b.Fatal(err)
			}
		}
		return m, sc
	}
	for _, bc := range []struct {
		name     string
		complete bool
		want     State
	}{{"in_flight", false, StateInFlight}, {"reused", true, StateCompleted}} {
		b.Run(bc.name, func(b *testing.B) {
			m, sc := setup(b, bc.complete)
			b.ReportAllocs()
			for b.Loop() {
				if r, _ := m.Claim(ctx, t0, sc, fpA); r.State != bc.want {
					b.Fatal(r.State)
				}
			}
		})
	}
	b.Run("in_flight_parallel_one_key", func(b *testing.B) {
		m, sc := setup(b, false)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r, _ := m.Claim(ctx, t0, sc, fpA); r.State != StateInFlight {
					b.Error(r.State)
					return
				}
			}
		})
	})
}

// BenchmarkClaimReplay is a retry answered from the stored response.
func BenchmarkClaimReplay(b *testing.B) {
	cfg := DefaultConfig()
	cfg.OnReuse = ModeReplay
	m := newMemory(b, cfg)
	sc := scopeOf("client-a", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	r, err := m.Claim(ctx, t0, sc, fpA)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Complete(ctx, t0, r.Lease, created()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := m.Claim(ctx, t0, sc, fpA); r.Response == nil {
			b.Fatal("no response")
		}
	}
}
