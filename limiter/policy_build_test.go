package limiter

import (
	"errors"
	"math"
	"testing"
)

// NewPolicy tags each error with the key of [rate_limits.NAME] it is about, so
// the config loader points at that key without reading the message.
func TestBuildTagsFields(t *testing.T) {
	cases := []struct {
		name, key string
		rate      float64
		burst     int
		field     string
	}{
		{"unknown key kind", "cookie", 1, 1, "key"},
		{"bad header name", "header:X Y", 1, 1, "key"},
		{"zero rate", "ip", 0, 1, "rate"},
		{"NaN rate", "ip", math.NaN(), 1, "rate"},
		{"burst 0 with a finite rate", "ip", 1, 0, "burst"},
		{"negative burst", "ip", 1, -1, "burst"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPolicy("p", tc.key, tc.rate, tc.burst, false)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
	if p, err := NewPolicy("p", "header:X-Api-Key", 2.5, 5, true); err != nil || p.Header != "X-Api-Key" || !p.Legacy {
		t.Fatalf("%+v %v", p, err)
	}
}
