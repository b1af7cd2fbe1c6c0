package limiter

import (
	"net/netip"
	"testing"
	"time"
)

// t0 is the injected clock's origin.
var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

func newLimiter(tb testing.TB, budget int64) *Limiter {
	tb.Helper()
	l, err := New(budget)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

func newRoute(tb testing.TB, policies ...*Policy) *Route {
	tb.Helper()
	rt, err := NewRoute("/v1/assets", policies)
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

func ipPolicy(name string, rate float64, burst int) *Policy {
	return &Policy{Name: name, Key: KeyIP, Rate: rate, Burst: burst}
}

func subject(ip string) *Subject {
	return &Subject{Addr: netip.MustParseAddr(ip)}
}

// headers is a HeaderPeeker over a map.
type headers map[string]string

func (h headers) Peek(key string) []byte {
	v, ok := h[key]
	if !ok {
		return nil
	}
	return []byte(v)
}

// checkBoth runs both phases as the proxy does.
func checkBoth(l *Limiter, now time.Time, rt *Route, s *Subject, d *Decision) bool {
	if !l.Check(now, rt, PreAuth, s, d) {
		return false
	}
	return l.Check(now, rt, PostAuth, s, d)
}
