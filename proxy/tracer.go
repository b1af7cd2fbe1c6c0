package proxy

import (
	"context"
	"fmt"
	"sync"
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

// retiringTracers are tracers a reload replaced, still open for the
// requests that started on them.
type retiringTracers struct {
	wg     sync.WaitGroup
	stop   chan struct{} // closed at exit: retire at once
	once   sync.Once
	closed sync.Once
}

func (r *retiringTracers) stopCh() chan struct{} {
	r.once.Do(func() { r.stop = make(chan struct{}) })
	return r.stop
}

// useTracer swaps in t (a reload's commit): requests that start from now
// on make their spans with it; a request in progress ends the spans it
// began on the old one, which is shut down in the background after
// tracerRetire, or at exit if that comes first (its queued spans then get
// tracerFlush to leave; a span ended later than that is dropped).
func (g *Gateway) useTracer(t *tracing.Tracer, c config.Tracing) {
	old := g.tracer.Swap(t)
	g.tracing = c
	if old == nil {
		return
	}
	stop := g.retiring.stopCh()
	g.retiring.wg.Add(1)
	go func() {
		defer g.retiring.wg.Done()
		timer := time.NewTimer(tracerRetire)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-stop:
		}
		ctx, cancel := context.WithTimeout(context.Background(), tracerFlush)
		defer cancel()
		_ = old.Shutdown(ctx)
	}()
}

// shutdownTracer flushes the spans of the running tracer, and of those a
// reload replaced, at exit.
func (g *Gateway) shutdownTracer() {
	g.retiring.closed.Do(func() { close(g.retiring.stopCh()) })
	ctx, cancel := context.WithTimeout(context.Background(), tracerFlush)
	defer cancel()
	_ = g.tracer.Load().Shutdown(ctx)
	g.retiring.wg.Wait() // each bounded by tracerFlush
}
