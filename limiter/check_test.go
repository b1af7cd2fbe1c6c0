package limiter

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// step is a number of requests sent at one instant and how many of them
// must be admitted.
type step struct {
	at       time.Duration
	requests int
	admitted int
}

func TestAdmissionCounts(t *testing.T) {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, MinBudget)
			rt := newRoute(t, ipPolicy("per_ip", tt.rate, tt.burst))
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
}

var inf = math.Inf(1)

func TestKeysAreSeparate(t *testing.T) {
	l := newLimiter(t, MinBudget)
	tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 1, Burst: 1}
	hdr := &Policy{Name: "per_key", Key: KeyHeader, Header: "X-Api-Key", Rate: 1, Burst: 1}
	ip := ipPolicy("per_ip", 1, 1)
	tests := []struct {
		name   string
		policy *Policy
		a, b   *Subject
		shared bool
	}{
		{"two addresses have two buckets", ip, subject("192.0.2.1"), subject("192.0.2.2"), false},
		{"an IPv4-mapped address is the IPv4 address", ip, subject("192.0.2.3"), subject("::ffff:192.0.2.3"), true},
		{"IPv6 addresses share their /64", ip, subject("2001:db8::1"), subject("2001:db8::ffff:1"), true},
		{"IPv6 /64s are separate", ip, subject("2001:db8:1::1"), subject("2001:db8:1:1::1"), false},
		{"two tokens have two buckets", tok, &Subject{Token: []byte("a")}, &Subject{Token: []byte("b")}, false},
		{"one token from two addresses is one bucket", tok,
			&Subject{Token: []byte("c"), Addr: subject("192.0.2.4").Addr}, &Subject{Token: []byte("c"), Addr: subject("192.0.2.5").Addr}, true},
		{"no token falls back to the address", tok, subject("192.0.2.6"), subject("192.0.2.6"), true},
		{"no token from two addresses is two buckets", tok, subject("192.0.2.7"), subject("192.0.2.8"), false},
		{"the fallback never meets a token of the same bytes", tok,
			subject("0.0.0.0"), &Subject{Token: make([]byte, 16)}, false},
		{"header values are keys", hdr, &Subject{Header: headers{"X-Api-Key": "k1"}}, &Subject{Header: headers{"X-Api-Key": "k2"}}, false},
		{"a missing header falls back to the address", hdr, &Subject{Header: headers{}, Addr: subject("192.0.2.9").Addr}, subject("192.0.2.9"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRoute(t, tt.policy)
			var d Decision
			if !checkBoth(l, t0, rt, tt.a, &d) {
				t.Fatal("first request refused")
			}
			second := checkBoth(l, t0, rt, tt.b, &d)
			if second == tt.shared {
				t.Fatalf("second subject admitted = %v, want shared bucket = %v", second, tt.shared)
			}
		})
	}
}

func TestRouteKeyIsOneBucketForAll(t *testing.T) {
	l := newLimiter(t, MinBudget)
	p := &Policy{Name: "per_route", Key: KeyRoute, Rate: 1, Burst: 2}
	a, _ := NewRoute("/a", []*Policy{p})
	b, _ := NewRoute("/b", []*Policy{p})
	var d Decision
	for i, s := range []*Subject{subject("192.0.2.1"), subject("192.0.2.2")} {
		if !checkBoth(l, t0, a, s, &d) {
			t.Fatalf("request %d on /a refused", i)
		}
	}
	if checkBoth(l, t0, a, subject("192.0.2.3"), &d) {
		t.Fatal("third client on /a admitted: the route bucket is shared by all clients")
	}
	if !checkBoth(l, t0, b, subject("192.0.2.3"), &d) {
		t.Fatal("/b refused: each route has its own bucket")
	}
}

func TestSeveralPolicies(t *testing.T) {
	narrow := ipPolicy("narrow", 1, 2)
	wide := ipPolicy("wide", 1, 10)
	tok := &Policy{Name: "per_token", Key: KeyToken, Rate: 1, Burst: 3}

	t.Run("a refusal gives back the tokens the others took", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, wide, narrow)
		var d Decision
		s := subject("192.0.2.1")
		for i := range 5 {
			ok := checkBoth(l, t0, rt, s, &d)
			if ok != (i < 2) {
				t.Fatalf("request %d admitted = %v", i, ok)
			}
		}
		// wide was charged only for the two admitted requests.
		if got := d.res[0].remaining; got != 8 {
			t.Fatalf("wide remaining = %d, want 8 (10 - 2 admitted)", got)
		}
		if it, _ := d.Item(); it.Policy != narrow || it.Remaining != 0 || it.Reset != 1 {
			t.Fatalf("RateLimit item = %+v, want narrow r=0 t=1", it)
		}
	})
	t.Run("policies after the refusing one are not charged", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, narrow, wide)
		var d Decision
		s := subject("192.0.2.1")
		for range 5 {
			checkBoth(l, t0, rt, s, &d)
		}
		if got := d.res[1].remaining; got != 8 {
			t.Fatalf("wide remaining = %d, want 8", got)
		}
	})
	t.Run("a PostAuth refusal gives back the PreAuth tokens", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, wide, tok)
		var d Decision
		s := subject("192.0.2.1")
		s.Token = []byte("client-1")
		for i := range 6 {
			if ok := checkBoth(l, t0, rt, s, &d); ok != (i < 3) {
				t.Fatalf("request %d admitted = %v", i, ok)
			}
		}
		if got := d.res[0].remaining; got != 7 {
			t.Fatalf("wide remaining = %d, want 7 (10 - 3 admitted)", got)
		}
		if d.RetryAfter() != 1 {
			t.Fatalf("Retry-After = %d, want 1", d.RetryAfter())
		}
	})
	t.Run("a PreAuth refusal skips PostAuth", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, narrow, tok)
		var d Decision
		s := &Subject{Addr: subject("192.0.2.1").Addr, Token: []byte("client-1")}
		for range 3 {
			checkBoth(l, t0, rt, s, &d)
		}
		if d.checked != 1 {
			t.Fatalf("checked = %b, want only the PreAuth policy", d.checked)
		}
		if l.Check(t0, rt, PostAuth, s, &d) || d.Allowed() {
			t.Fatal("a PostAuth check after a PreAuth refusal must keep the refusal")
		}
	})
	t.Run("failed authentication keeps the PreAuth token", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, narrow, tok)
		var d Decision
		s := subject("192.0.2.1")
		// Two requests pass PreAuth and are then answered 401: no PostAuth.
		for range 2 {
			if !l.Check(t0, rt, PreAuth, s, &d) {
				t.Fatal("refused")
			}
		}
		if l.Check(t0, rt, PreAuth, s, &d) {
			t.Fatal("third guess admitted: 401s must count against the address")
		}
	})
	t.Run("Retry-After is the largest t of the refusing policies", func(t *testing.T) {
		l := newLimiter(t, MinBudget)
		slow := ipPolicy("slow", 0.1, 1)
		fast := ipPolicy("fast", 1, 1)
		rt := newRoute(t, fast, slow)
		var d Decision
		s := subject("192.0.2.1")
		checkBoth(l, t0, rt, s, &d)
		if checkBoth(l, at(500*time.Millisecond), rt, s, &d) {
			t.Fatal("admitted")
		}
		// fast needs 0.5 s, slow 9.5 s: both refuse.
		if got := d.RetryAfter(); got != 10 {
			t.Fatalf("Retry-After = %d, want 10", got)
		}
		if it, _ := d.Item(); it.Policy != fast || it.Reset != 1 {
			t.Fatalf("RateLimit item = %+v, want fast (first of the r=0 tie) with t=1", it)
		}
	})
}

func TestRemainingAndReset(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		burst     int
		before    int // requests admitted earlier at t0
		after     time.Duration
		allowed   bool
		remaining int64
		reset     int64
	}{
		{"first request: r = burst - 1, t until full", 100, 200, 0, 0, true, 199, 1},
		{"t rounds up to whole seconds", 1, 10, 2, 0, true, 7, 3},
		{"the last token: r = 0, t until the next token", 1, 10, 9, 0, true, 0, 1},
		{"refused: t until one token, at least 1", 1, 10, 10, 900 * time.Millisecond, false, 0, 1},
		{"refused at a slow rate", 0.1, 1, 1, 3 * time.Second, false, 0, 7},
		{"half a token per second: t = 2 after the only token", 0.5, 1, 0, 0, true, 0, 2},
		{"partial refill is not a whole token", 2, 4, 4, 700 * time.Millisecond, true, 0, 1},
		{"refill counts after time passes", 2, 4, 4, 2 * time.Second, true, 3, 1},
		{"infinite rate: r = burst, t = 0", inf, 5, 3, 0, true, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, MinBudget)
			rt := newRoute(t, ipPolicy("p", tt.rate, tt.burst))
			var d Decision
			s := subject("192.0.2.1")
			for range tt.before {
				if !checkBoth(l, t0, rt, s, &d) {
					t.Fatal("setup request refused")
				}
			}
			if got := checkBoth(l, at(tt.after), rt, s, &d); got != tt.allowed {
				t.Fatalf("admitted = %v, want %v", got, tt.allowed)
			}
			it, _ := d.Item()
			if it.Remaining != tt.remaining || it.Reset != tt.reset {
				t.Fatalf("r=%d t=%d, want r=%d t=%d", it.Remaining, it.Reset, tt.remaining, tt.reset)
			}
			if !tt.allowed && d.RetryAfter() != tt.reset {
				t.Fatalf("Retry-After = %d, want t = %d", d.RetryAfter(), tt.reset)
			}
		})
	}
}

// TestRetryAfterIsHonest: a client that waits exactly Retry-After seconds
// is admitted, and one that comes back a moment earlier would not be
// guaranteed a token.
func TestRetryAfterIsHonest(t *testing.T) {
	for _, r := range []float64{0.03, 0.5, 0.7, 1, 3, 7.5, 100} {
		l := newLimiter(t, MinBudget)
		rt := newRoute(t, ipPolicy("p", r, 2))
		var d Decision
		s := subject("192.0.2.1")
		now := t0
		for checkBoth(l, now, rt, s, &d) {
		}
		ra := d.RetryAfter()
		if ra < 1 {
			t.Fatalf("rate %v: Retry-After %d < 1", r, ra)
		}
		if !checkBoth(l, now.Add(time.Duration(ra)*time.Second), rt, s, &d) {
			t.Fatalf("rate %v: refused after waiting Retry-After = %d s", r, ra)
		}
	}
}

func TestTimeGoingBackwardsMintsNothing(t *testing.T) {
	// Concurrent requests reach a bucket with times slightly out of order.
	// x/time/rate lets an admitted earlier t move the limiter's clock back,
	// so the next later t counts the gap again (golang/go#56287; v0.16.0
	// still does): show it, then show that the bucket's clamp prevents it.
	jittered := func(i int) time.Time {
		now := at(time.Duration(i/2) * time.Millisecond)
		if i%2 == 1 {
			now = now.Add(-40 * time.Millisecond)
		}
		return now
	}
	raw := rate.NewLimiter(10, 5)
	minted := 0
	for i := range 100 {
		if raw.AllowN(jittered(i), 1) {
			minted++
		}
	}
	t.Logf("rate.Limiter alone admitted %d of 100 requests within 50ms at 10/s burst 5", minted)

	l := newLimiter(t, MinBudget)
	rt := newRoute(t, ipPolicy("p", 10, 5))
	var d Decision
	got := 0
	for i := range 100 {
		if checkBoth(l, jittered(i), rt, subject("192.0.2.1"), &d) {
			got++
		}
	}
	if got != 5 {
		t.Fatalf("admitted %d requests within 50ms at 10/s burst 5, want 5", got)
	}
}

func TestGiveBackIsOneTokenUpToBurst(t *testing.T) {
	p := &params{limit: 2, burst: 3}
	b := newBucket(p)
	var r result
	b.allow(t0)
	b.allow(t0)
	b.giveBack(t0, &r)
	if b.tokens != 2 || r.remaining != 2 {
		t.Fatalf("tokens after give-back = %v (r=%d), want 2", b.tokens, r.remaining)
	}
	b.giveBack(at(time.Second), &r) // 2 + 2 refilled + 1, capped
	if b.tokens != 3 || r.remaining != 3 || r.reset != 0 {
		t.Fatalf("tokens = %v (r=%d t=%d), want burst 3, t=0", b.tokens, r.remaining, r.reset)
	}
}

func TestOneBucketPerKeyUnderConcurrency(t *testing.T) {
	l := newLimiter(t, MinBudget)
	rt := newRoute(t, ipPolicy("p", 1, 5))
	const goroutines = 8
	for round := range 50 {
		s := &Subject{Addr: subject("192.0.2.1").Addr.Next()}
		for range round {
			s.Addr = s.Addr.Next()
		}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range goroutines {
			wg.Go(func() {
				<-start
				var d Decision
				for range 4 {
					if checkBoth(l, t0, rt, s, &d) {
						admitted.Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if got := admitted.Load(); got != 5 {
			t.Fatalf("round %d: %d admitted for one new key at one instant, want burst 5", round, got)
		}
	}
}
