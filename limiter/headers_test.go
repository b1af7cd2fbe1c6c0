package limiter

import (
	"testing"
	"time"
)

func TestPolicyField(t *testing.T) {
	tests := []struct {
		name     string
		policies []*Policy
		want     string
	}{
		{"q is the burst, w = burst / rate (draft example: 100/s, 200)", []*Policy{ipPolicy("per_token", 100, 200)}, `"per_token";q=200;w=2`},
		{"w rounds up", []*Policy{ipPolicy("p", 3, 10)}, `"p";q=10;w=4`},
		{"w is at least 1", []*Policy{ipPolicy("p", 1000, 5)}, `"p";q=5;w=1`},
		{"a fractional rate stretches the window", []*Policy{ipPolicy("p", 0.5, 1)}, `"p";q=1;w=2`},
		{"an infinite rate has w = 1", []*Policy{ipPolicy("p", inf, 3)}, `"p";q=3;w=1`},
		{"one item per policy in route order", []*Policy{ipPolicy("per_ip", 50, 100), ipPolicy("per_token", 100, 200)},
			`"per_ip";q=100;w=2, "per_token";q=200;w=2`},
		{"quotes and backslashes are escaped (RFC 8941 §3.3.3)", []*Policy{ipPolicy(`a"b\c`, 1, 1)}, `"a\"b\\c";q=1;w=1`},
		{"no policies, no field", nil, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRoute(t, tt.policies...)
			if got := string(rt.PolicyField()); got != tt.want {
				t.Fatalf("RateLimit-Policy = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRateLimitFields(t *testing.T) {
	perIP := ipPolicy("per_ip", 1, 10)
	perToken := &Policy{Name: "per_token", Key: KeyToken, Rate: 100, Burst: 200, Legacy: true}
	type want struct {
		rateLimit, retryAfter, limit, remaining, reset string
		legacy                                         bool
	}
	tests := []struct {
		name     string
		policies []*Policy
		before   int // requests at t0 before the one observed
		after    time.Duration
		want     want
	}{
		{"one policy: r after this request, t until full", []*Policy{perIP}, 0, 0,
			want{rateLimit: `"per_ip";r=9;t=1`}},
		{"the item is the policy with the fewest tokens left", []*Policy{perToken, perIP}, 4, 0,
			want{rateLimit: `"per_ip";r=5;t=5`}},
		{"legacy fields follow the item's policy", []*Policy{perIP, perToken}, 0, 0,
			want{rateLimit: `"per_ip";r=9;t=1`}},
		{"legacy fields when the item's policy has them", []*Policy{ipPolicy("big", 1, 1000), perToken}, 0, 0,
			want{rateLimit: `"per_token";r=199;t=1`, legacy: true, limit: "200", remaining: "199", reset: "1"}},
		{"a refusal: r = 0, t and Retry-After until one token", []*Policy{perIP, perToken}, 10, 300 * time.Millisecond,
			want{rateLimit: `"per_ip";r=0;t=1`, retryAfter: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(t, MinBudget)
			rt := newRoute(t, tt.policies...)
			s := &Subject{Addr: subject("192.0.2.1").Addr, Token: []byte("client-1")}
			var d Decision
			for range tt.before {
				checkBoth(l, t0, rt, s, &d)
			}
			checkBoth(l, at(tt.after), rt, s, &d)
			got := want{
				rateLimit: string(d.AppendRateLimit(nil)),
				legacy:    d.Legacy(),
			}
			if !d.Allowed() {
				got.retryAfter = string(d.AppendRetryAfter(nil))
			}
			if got.legacy {
				got.limit = string(d.AppendLegacyLimit(nil))
				got.remaining = string(d.AppendLegacyRemaining(nil))
				got.reset = string(d.AppendLegacyReset(nil))
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNoPolicyNoFields(t *testing.T) {
	l := newLimiter(t, MinBudget)
	var d Decision
	if !checkBoth(l, t0, nil, subject("192.0.2.1"), &d) {
		t.Fatal("a route without policies refused a request")
	}
	if got := d.AppendRateLimit(nil); len(got) != 0 || d.Legacy() {
		t.Fatalf("RateLimit = %q on a route without policies", got)
	}
}

func TestNewRouteRefuses(t *testing.T) {
	p := ipPolicy("p", 1, 1)
	many := make([]*Policy, MaxRoutePolicies+1)
	for i := range many {
		many[i] = ipPolicy(string(rune('a'+i)), 1, 1)
	}
	for name, policies := range map[string][]*Policy{
		"one policy twice":  {p, p},
		"a nil policy":      {nil},
		"too many policies": many,
		"an invalid policy": {ipPolicy("p", 0, 1)},
	} {
		if _, err := NewRoute("/r", policies); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
