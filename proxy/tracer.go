package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
	"github.com/cobaltgw/cobaltgw/tracing"
)

// tracerFlush is how long a tracer being replaced or stopped gets to send
// the spans it still holds; tracerRetire is how long a replaced tracer
// stays open first, for the requests that started on it.
const (
	tracerFlush  = 2 * time.Second
	tracerRetire = 10 * time.Second
)

// newTracer builds the tracer of [tracing] (nil without an endpoint).
func newTracer(c config.Tracing) (*tracing.Tracer, error) {
	tc, err := tracing.FromConfig(c, buildinfo.Version())
	if err != nil {
		return nil, err
	}
	t, err := tracing.New(tc)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return t, nil
}

// useTracer swaps in t (a reload's commit): requests that start from now
// on make their spans with it; a request in progress ends the spans it
// began on the old one, which is shut down in the background after
// tracerRetire (its queued spans then get tracerFlush to leave; a span
// ended later than that is dropped).
func (g *Gateway) useTracer(t *tracing.Tracer, c config.Tracing) {
	old := g.tracer.Swap(t)
	g.tracing = c
	if old == nil {
		return
	}
	go func() {
		time.Sleep(tracerRetire)
		ctx, cancel := context.WithTimeout(context.Background(), tracerFlush)
		defer cancel()
		_ = old.Shutdown(ctx)
	}()
}

// shutdownTracer flushes the running tracer's spans at exit.
func (g *Gateway) shutdownTracer() {
	ctx, cancel := context.WithTimeout(context.Background(), tracerFlush)
	defer cancel()
	_ = g.tracer.Load().Shutdown(ctx)
}
