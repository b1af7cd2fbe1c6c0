package limiter

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// benchLimiter returns a limiter whose route has the given policies and a
// subject that already has buckets in all of them (resident in the cache).
func benchLimiter(b *testing.B, policies ...*Policy) (*Limiter, *Route, *Subject) {
	l := newLimiter(b, 64<<20)
	rt := newRoute(b, policies...)
	s := &Subject{Addr: netip.MustParseAddr("192.0.2.1"), Token: []byte("client-1")}
	var d Decision
	for range 10 {
		checkBoth(l, t0, rt, s, &d)
		l.wait()
	}
	return l, rt, s
}

var (
	benchIP    = &Policy{Name: "per_ip", Key: KeyIP, Rate: 1e9, Burst: 1 << 30}
	benchToken = &Policy{Name: "per_token", Key: KeyToken, Rate: 1e9, Burst: 1 << 30}
	benchRoute = &Policy{Name: "per_route", Key: KeyRoute, Rate: 1e9, Burst: 1 << 30}
)

// BenchmarkCheck is one request through both phases for a key that has a
// bucket: the steady state of a client.
func BenchmarkCheck(b *testing.B) {
	for _, bc := range []struct {
		name     string
		policies []*Policy
	}{
		{"1policy", []*Policy{benchIP}},
		{"3policies", []*Policy{benchIP, benchToken, benchRoute}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, rt, s := benchLimiter(b, bc.policies...)
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
	}
}

// BenchmarkCheckParallel: many goroutines, one client each (distinct
// buckets), or all on one hot bucket.
func BenchmarkCheckParallel(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := "distinct-keys"
		if hot {
			name = "one-hot-key"
		}
		b.Run(name, func(b *testing.B) {
			l, rt, _ := benchLimiter(b, benchIP)
			var next atomic.Uint32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], 0xc0000201+next.Add(1))
				s := &Subject{Addr: netip.AddrFrom4(a)}
				if hot {
					s.Addr = netip.MustParseAddr("192.0.2.1")
				}
				var d Decision
				for pb.Next() {
					checkBoth(l, time.Now(), rt, s, &d)
				}
			})
		})
	}
}

// BenchmarkCheckNewKey: every request from a new client (a flood of
// spoofed or rotating addresses).
func BenchmarkCheckNewKey(b *testing.B) {
	l := newLimiter(b, 32<<20)
	rt := newRoute(b, ipPolicy("per_ip", 1, 10))
	var d Decision
	s := &Subject{}
	var a [4]byte
	i := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		binary.BigEndian.PutUint32(a[:], i)
		s.Addr = netip.AddrFrom4(a)
		l.Check(t0, rt, PreAuth, s, &d)
	}
}

func BenchmarkAppendHeaders(b *testing.B) {
	l, rt, s := benchLimiter(b, benchIP, benchToken)
	var d Decision
	checkBoth(l, t0, rt, s, &d)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = append(buf[:0], rt.PolicyField()...)
		buf = d.AppendRateLimit(buf[:0])
		buf = d.AppendLegacyLimit(buf[:0])
		buf = d.AppendLegacyRemaining(buf[:0])
		buf = d.AppendLegacyReset(buf[:0])
	}
}

func BenchmarkAppendPolicyField(b *testing.B) {
	policies := []*Policy{benchIP, benchToken, benchRoute}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPolicyField(buf[:0], policies)
	}
}

func BenchmarkClientIP(b *testing.B) {
	peer := netip.MustParseAddr("10.0.0.1")
	xff := []byte("203.0.113.9, 198.51.100.7, 10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		ClientIP(peer, testTrusted, xff)
	}
}
