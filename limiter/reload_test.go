package limiter

import (
	"math"
	"testing"
	"time"
)

func TestReloadKeepsState(t *testing.T) {
	tests := []struct {
		name string
		// before: the policy at t0, when the client spends its whole burst.
		before *Policy
		// after: the reloaded policy, applied at reloadAt.
		after    *Policy
		reloadAt time.Duration
		steps    []step
	}{
		{
			name:     "a larger burst is not handed out at the reload",
			before:   ipPolicy("p", 1, 5),
			after:    ipPolicy("p", 1, 50),
			reloadAt: 0,
			steps:    []step{{0, 3, 0}, {time.Second, 2, 1}},
		},
		{
			name:     "a higher rate refills from the reload on",
			before:   ipPolicy("p", 1, 5),
			after:    ipPolicy("p", 10, 5),
			reloadAt: 0,
			steps:    []step{{0, 1, 0}, {500 * time.Millisecond, 9, 5}},
		},
		{
			name:     "the old rate counts until the reload",
			before:   ipPolicy("p", 1, 5),
			after:    ipPolicy("p", 10, 5),
			reloadAt: 2 * time.Second, // 2 tokens at 1/s, then 10/s
			steps:    []step{{2100 * time.Millisecond, 9, 3}},
		},
		{
			name:     "a smaller burst caps the tokens kept",
			before:   ipPolicy("p", 1, 5),
			after:    ipPolicy("p", 1, 2),
			reloadAt: time.Hour,
			steps:    []step{{time.Hour, 5, 2}},
		},
		{
			name:     "legacy_headers alone changes nothing",
			before:   ipPolicy("p", 1, 5),
			after:    &Policy{Name: "p", Key: KeyIP, Rate: 1, Burst: 5, Legacy: true},
			reloadAt: 0,
			steps:    []step{{0, 1, 0}, {time.Second, 2, 1}},
		},
		{
			name:     "a changed key starts afresh: it counts something else",
			before:   ipPolicy("p", 1, 5),
			after:    &Policy{Name: "p", Key: KeyToken, Rate: 1, Burst: 5},
			reloadAt: 0,
			steps:    []step{{0, 6, 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, MinBudget)
			if err := l.Update(t0, []*Policy{tt.before}); err != nil {
				t.Fatal(err)
			}
			s := subject("192.0.2.1")
			var d Decision
			rt := newRoute(t, tt.before)
			for range tt.before.Burst {
				if !checkBoth(l, t0, rt, s, &d) {
					t.Fatal("setup request refused")
				}
			}
			if err := l.Update(at(tt.reloadAt), []*Policy{tt.after}); err != nil {
				t.Fatal(err)
			}
			rt = newRoute(t, tt.after)
			for _, st := range tt.steps {
				got := 0
				for range st.requests {
					if checkBoth(l, at(st.at), rt, s, &d) {
						got++
					}
				}
				if got != st.admitted {
					t.Fatalf("at %v: %d of %d admitted, want %d", st.at, got, st.requests, st.admitted)
				}
			}
		})
	}
}

func TestReloadInFlightRequestsShareTheBuckets(t *testing.T) {
	l := newLimiter(t, MinBudget)
	old := ipPolicy("p", 1, 2)
	if err := l.Update(t0, []*Policy{old}); err != nil {
		t.Fatal(err)
	}
	oldRoute := newRoute(t, old)
	updated := ipPolicy("p", 1, 3)
	if err := l.Update(t0, []*Policy{updated}); err != nil {
		t.Fatal(err)
	}
	newRoute := newRoute(t, updated)
	var d Decision
	s := subject("192.0.2.1")
	// A request still on the old config and one on the new use one bucket,
	// which follows the newest numbers.
	got := 0
	for _, rt := range []*Route{oldRoute, newRoute, oldRoute, newRoute} {
		if checkBoth(l, t0, rt, s, &d) {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("%d admitted, want the new burst 3", got)
	}
}

func TestUpdateRefusesBadPolicies(t *testing.T) {
	tests := []struct {
		name     string
		policies []*Policy
	}{
		{"zero rate", []*Policy{ipPolicy("p", 0, 1)}},
		{"negative rate", []*Policy{ipPolicy("p", -1, 1)}},
		{"NaN rate", []*Policy{ipPolicy("p", math.NaN(), 1)}},
		{"zero burst with a finite rate", []*Policy{ipPolicy("p", 1, 0)}},
		{"no name", []*Policy{ipPolicy("", 1, 1)}},
		{"a name that is not printable ASCII", []*Policy{ipPolicy("pér", 1, 1)}},
		{"a header key without a header", []*Policy{{Name: "p", Key: KeyHeader, Rate: 1, Burst: 1}}},
		{"a header name that is not a token", []*Policy{{Name: "p", Key: KeyHeader, Header: "X Key", Rate: 1, Burst: 1}}},
		{"a header on another key", []*Policy{{Name: "p", Key: KeyIP, Header: "X-Key", Rate: 1, Burst: 1}}},
		{"no key", []*Policy{{Name: "p", Rate: 1, Burst: 1}}},
		{"one name twice", []*Policy{ipPolicy("p", 1, 1), ipPolicy("p", 2, 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, MinBudget)
			if err := l.Update(t0, tt.policies); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
	if err := ipPolicy("p", inf, 0).Validate(); err != nil {
		t.Fatalf("an infinite rate needs no burst: %v", err)
	}
}
