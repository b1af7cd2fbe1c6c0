package limiter

import (
	"net/netip"
	"testing"
	"time"
)

// The memory path allocates nothing and keeps the proxy's Subject and
// Decision on its stack (go build -gcflags=-m ./limiter: "leaking param
// content: s", "leaking param content: d").
func TestMemoryCheckAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := newLimiter(t, 64<<20)
	rt := newRoute(t, benchIP, benchToken)
	now := t0
	token := []byte("client-1")
	check := func() {
		var d Decision
		s := Subject{Addr: netip.MustParseAddr("192.0.2.1"), Token: token}
		now = now.Add(time.Microsecond)
		checkBoth(l, now, rt, &s, &d)
	}
	for range 10 {
		check()
		l.wait()
	}
	if n := testing.AllocsPerRun(1000, check); n != 0 {
		t.Fatalf("%v allocations per memory Check", n)
	}
}
