package proxy

import (
	"strings"
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

// TestPanicIsInternalError: a bug that panics mid-request answers 500
// internal_error with the contract body, and the gateway keeps serving.
func TestPanicIsInternalError(t *testing.T) {
	g := benchGateway(t, benchConfig)
	rt := g.rt.Load()
	rt.routes.match([]byte("/v1/assets")).upstream = nil // a nil pool: forward panics
	ctx := benchCtx("/v1/assets")
	g.handle(ctx)
	if ctx.Response.StatusCode() != 500 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
	body := string(ctx.Response.Body())
	if !strings.Contains(body, `"code":"internal_error"`) || string(ctx.Response.Header.Peek("X-Request-Id")) == "" {
		t.Fatalf("body %s", body)
	}
	ctx2 := benchCtx("/nope")
	g.handle(ctx2)
	if ctx2.Response.StatusCode() != 404 {
		t.Fatalf("after a panic: status %d", ctx2.Response.StatusCode())
	}
}
