package proxy

import (
	"testing"
	"time"
)

func TestEverySecond(t *testing.T) {
	var e everySecond
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Time
		want bool
	}{
		{t0, true},
		{t0.Add(100 * time.Millisecond), false},
		{t0.Add(999 * time.Millisecond), false},
		{t0.Add(time.Second), true},
		{t0.Add(1500 * time.Millisecond), false},
		{t0.Add(5 * time.Second), true},
	}
	for i, s := range steps {
		if got := e.allow(s.at); got != s.want {
			t.Fatalf("step %d: allow = %v, want %v", i, got, s.want)
		}
	}
}
