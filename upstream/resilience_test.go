package upstream

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// These tests run real upstreams on 127.0.0.1. They assert outcomes and
// counts, never durations; waits are bounded polls.

func TestKilledTargetIsEjectedAndReturns(t *testing.T) {
	a, b := startServer(t, ok200), startServer(t, ok200)
	clk := newClock()
	cfg := testConfig(a.URL(), b.URL())
	cfg.EjectAfter, cfg.Retries = 3, 0 // no retries: every failure is seen
	p := newPool(t, cfg, WithClock(clk.Now))
	ta, tb := target(p, a.URL()), target(p, b.URL())

	const workers = 4
	var (
		stop          atomic.Bool
		sent          atomic.Int64
		failedOnA     atomic.Int64
		wg            sync.WaitGroup
		afterKill     atomic.Bool
		okBeforeKillA atomic.Int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				res, _ := get(p, "GET", time.Now().Add(5*time.Second))
				sent.Add(1)
				switch {
				case res.Target == ta && res.Outcome != OK:
					failedOnA.Add(1)
				case res.Target == ta && !afterKill.Load():
					okBeforeKillA.Add(1)
				}
			}
		}()
	}
	eventually(t, "load on both targets", func() bool { return okBeforeKillA.Load() > 10 })
	afterKill.Store(true)
	a.kill()
	eventually(t, "a ejected", func() bool { return stateOf(p, a.URL()).State == StateEjected })
	n := sent.Load()
	eventually(t, "more load", func() bool { return sent.Load() > n+100 })
	stop.Store(true)
	wg.Wait()
	// Requests already in flight on a when it crossed eject_after may fail
	// too: at most one per worker.
	if f := failedOnA.Load(); f > int64(cfg.EjectAfter+workers) {
		t.Fatalf("%d requests failed on the killed target, want at most eject_after + %d in flight", f, workers)
	}
	for range 20 {
		if res, code := get(p, "GET", time.Now().Add(5*time.Second)); res.Outcome != OK || res.Target != tb || code != 200 {
			t.Fatalf("after ejection: %+v %d, want 200 from the other target", res, code)
		}
	}

	a.start() // same address
	clk.Advance(cfg.EjectFor.D())
	seen := false
	for range 10 {
		if res, _ := get(p, "GET", time.Now().Add(5*time.Second)); res.Target == ta {
			if res.Outcome != OK {
				t.Fatalf("restarted target: %+v", res)
			}
			seen = true
		}
	}
	if !seen || !stateOf(p, a.URL()).Up() {
		t.Fatal("the restarted target is not back in rotation after eject_for")
	}
}

func TestHangingTargetTimesOutAndIsNotRetried(t *testing.T) {
	h, good := hanging(t), startServer(t, ok200)
	cfg := testConfig(h, good.URL())
	cfg.EjectAfter = 100
	cfg.Timeout = config.Duration(150 * time.Millisecond) // the per-silence bound of the connection
	p := newPool(t, cfg)
	th := target(p, h)
	for range 4 {
		res, _ := get(p, "GET", time.Now().Add(150*time.Millisecond))
		if res.Target != th {
			continue
		}
		// The request was written: its fate is unknown, so no retry.
		if res.Outcome != Timeout || !res.Outcome.Reached() || res.Attempts != 1 {
			t.Fatalf("hanging target: %+v, want Timeout after one attempt", res)
		}
		return
	}
	t.Fatal("no request reached the hanging target")
}

func TestEveryTargetHungOrDeadFailsFast(t *testing.T) {
	h, d := hanging(t), dead(t)
	cfg := testConfig(h, d)
	cfg.EjectAfter, cfg.MaxEjected, cfg.PanicThreshold = 2, 1, 0
	cfg.Timeout = config.Duration(100 * time.Millisecond) // the per-silence bound of the connection
	p := newPool(t, cfg)
	da, db := countDials(p.Targets()[0]), countDials(p.Targets()[1])
	dials := func() int64 { return da.Load() + db.Load() }
	for i := 0; len(p.current(time.Now()).live) > 0; i++ {
		if i == 20 {
			t.Fatalf("targets still in rotation after 20 requests: %+v", p.Stats())
		}
		get(p, "GET", time.Now().Add(100*time.Millisecond))
	}
	before := dials()
	start := time.Now()
	res, _ := get(p, "GET", time.Now().Add(30*time.Second))
	elapsed := time.Since(start)
	if res.Outcome != Unavailable || !errors.Is(res.Err, ErrNoTarget) || res.RetryAfter < 1 || res.RetryAfter > 30 {
		t.Fatalf("all ejected: %+v, want Unavailable with 1 ≤ RetryAfter ≤ eject_for", res)
	}
	if dials() != before {
		t.Fatal("a target was dialed although none is in rotation")
	}
	if elapsed > time.Second { // generous: it is a few atomic loads
		t.Fatalf("answer took %v, want it at once", elapsed)
	}
}

func TestFailing500TargetIsEjectedPassivelyWithEjectOn5xx(t *testing.T) {
	bad, good := startServer(t, fail500), startServer(t, ok200)
	cfg := testConfig(bad.URL(), good.URL())
	cfg.EjectAfter, cfg.EjectOn = 3, config.EjectOn5xx
	p := newPool(t, cfg)
	fives := 0
	for range 30 {
		res, code := get(p, "GET", time.Now().Add(5*time.Second))
		if res.Outcome != OK {
			t.Fatalf("%+v", res)
		}
		if code == 500 {
			fives++
		}
	}
	if fives != cfg.EjectAfter || stateOf(p, bad.URL()).State != StateEjected {
		t.Fatalf("%d answers of 500, state %s; want eject_after then ejected", fives, stateOf(p, bad.URL()).State)
	}
	if s := stateOf(p, bad.URL()); s.LastError != "status 500" || s.Ejections != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestActiveChecksTakeOutAndBringBack(t *testing.T) {
	var sick atomic.Bool
	sick.Store(true)
	var checks atomic.Int64
	flaky := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			checks.Add(1)
		}
		if sick.Load() {
			fail500(w, r)
			return
		}
		ok200(w, r)
	})
	good := startServer(t, ok200)
	cfg := testConfig(flaky.URL(), good.URL())
	cfg.HealthPath = "/healthz"
	cfg.HealthInterval = config.Duration(20 * time.Millisecond)
	log := &logBuf{}
	p := newPool(t, cfg, WithLogger(log.logger()))
	eventually(t, "target down", func() bool { return stateOf(p, flaky.URL()).State == StateDown })
	if !stateOf(p, good.URL()).Up() {
		t.Fatal("the healthy target went down")
	}
	for range 10 {
		if res, code := get(p, "GET", time.Now().Add(5*time.Second)); res.Target.URL != good.URL() || code != 200 {
			t.Fatalf("while down: %+v %d", res, code)
		}
	}
	sick.Store(false)
	eventually(t, "target up", func() bool { return stateOf(p, flaky.URL()).Up() })
	if checks.Load() < int64(cfg.UnhealthyAfter+cfg.HealthyAfter) {
		t.Fatalf("only %d checks", checks.Load())
	}
}

func TestRetryBudgetBoundsConnectAttempts(t *testing.T) {
	clk := newClock() // frozen: all requests fall in one 10 s window
	cfg := testConfig(dead(t), dead(t))
	cfg.Retries, cfg.EjectAfter = 3, 1<<30 // no ejection: every request dials
	p := newPool(t, cfg, WithClock(clk.Now))
	a, b := countDials(p.Targets()[0]), countDials(p.Targets()[1])
	const requests = 200
	for range requests {
		if res, _ := get(p, "GET", time.Now().Add(5*time.Second)); res.Outcome != Unavailable {
			t.Fatalf("%+v", res)
		}
	}
	dials := a.Load() + b.Load()
	limit := int64(requests + cfg.RetryBudget*requests + budgetMinPerSec*budgetWindow)
	st := p.Stats()
	t.Logf("%d requests: %d connection attempts (limit %d, %d without budget); retries %d failed, %d denied",
		requests, dials, limit, requests*(1+cfg.Retries), st.RetriesFailed, st.RetriesBudgetDenied)
	if dials > limit || dials < requests {
		t.Fatalf("%d connection attempts for %d requests, want at most %d", dials, requests, limit)
	}
	if st.RetriesBudgetDenied == 0 || int64(st.RetriesFailed) != dials-requests || st.RetriesOK != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectFailuresAreRetriedForEveryMethod(t *testing.T) {
	d, good := dead(t), startServer(t, ok200)
	cfg := testConfig(d, good.URL())
	cfg.EjectAfter = 100
	p := newPool(t, cfg)
	retried, retries := map[string]bool{}, uint64(0)
	for _, m := range []string{"GET", "GET", "POST", "POST", "PATCH", "PATCH"} {
		// round robin: every other call tries the dead target first;
		// nothing was sent to it, so any method goes on to the live one.
		res, code := get(p, m, time.Now().Add(5*time.Second))
		if res.Outcome != OK || code != 200 {
			t.Fatalf("%s with a live target left: %+v", m, res)
		}
		retried[m] = retried[m] || res.Attempts == 2
		retries += uint64(res.Attempts - 1)
	}
	if !retried["GET"] || !retried["POST"] || !retried["PATCH"] || p.Stats().RetriesOK != retries {
		t.Fatalf("retried %v, stats %+v", retried, p.Stats())
	}
}

func TestMaxConnsBoundsOpenConnections(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	s := startServer(t, func(w http.ResponseWriter, r *http.Request) { <-release; ok200(w, r) })
	cfg := testConfig(s.URL())
	cfg.MaxConns, cfg.ConnectTimeout = 2, config.Duration(100*time.Millisecond)
	p := newPool(t, cfg)

	const calls = 20
	results := make(chan Result, calls)
	for range calls {
		go func() {
			res, _ := get(p, "GET", time.Now().Add(30*time.Second))
			results <- res
		}()
	}
	collect := func(n int, want Outcome) {
		t.Helper()
		for range n {
			select {
			case res := <-results:
				if res.Outcome != want {
					t.Fatalf("got %+v, want %s", res, want)
				}
				if want == Unavailable && (!errors.Is(res.Err, fasthttp.ErrNoFreeConns) || res.RetryAfter != 1 || res.Attempts != 1) {
					t.Fatalf("pool exhausted: %+v", res)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("calls did not finish")
			}
		}
	}
	collect(calls-2, Unavailable) // after connect_timeout; the upstream still holds two
	once.Do(func() { close(release) })
	collect(2, OK)
	if m := s.maxOpen.Load(); m > 2 {
		t.Fatalf("%d connections open at once, max_conns = 2", m)
	}
	if !stateOf(p, s.URL()).Up() {
		t.Fatal("a busy pool counted as a target failure")
	}
}

func TestLeastConnAvoidsBusyTarget(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after release is closed (cleanups are LIFO)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	busy := startServer(t, func(w http.ResponseWriter, r *http.Request) { <-release; ok200(w, r) })
	idle := startServer(t, ok200)
	cfg := testConfig(busy.URL(), idle.URL())
	cfg.Balance = "least_conn"
	p := newPool(t, cfg)
	tb := target(p, busy.URL())
	var launched, finished atomic.Int64
	for tb.InFlight() == 0 { // ties go either way; a call that lands on busy stays
		launched.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(p, "GET", time.Now().Add(30*time.Second))
			finished.Add(1)
		}()
		time.Sleep(time.Millisecond)
	}
	// Every call still running is held by busy: idle has none in flight.
	eventually(t, "calls to idle to finish", func() bool { return launched.Load()-finished.Load() == tb.InFlight() })
	for range 50 {
		if res, _ := get(p, "GET", time.Now().Add(5*time.Second)); res.Target.URL != idle.URL() {
			t.Fatalf("least_conn sent a call to the target with %d in flight", tb.InFlight())
		}
	}
}

func TestCloseStopsCheckers(t *testing.T) {
	var checks atomic.Int64
	h := func(w http.ResponseWriter, r *http.Request) { checks.Add(1); ok200(w, r) }
	a, b := startServer(t, h), startServer(t, h)
	// The process-wide DNS cache cleaner of the shared dialer starts at
	// the first dial and outlives pools by design: start it first.
	if c, err := dialer.DialDualStackTimeout(a.addr, time.Second); err == nil {
		c.Close()
	}
	before := runtime.NumGoroutine()
	cfg := testConfig(a.URL(), b.URL())
	cfg.HealthPath, cfg.HealthInterval = "/healthz", config.Duration(10*time.Millisecond)
	p, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "checks", func() bool { return checks.Load() >= 6 })
	if n := checkers(); n != 2 {
		t.Fatalf("%d checkers running, want one per target", n)
	}
	p.Close()
	if n := checkers(); n != 0 {
		t.Fatalf("%d checkers survived Close", n)
	}
	eventually(t, "goroutines back to the count before New", func() bool { return runtime.NumGoroutine() <= before })
	n := checks.Load()
	time.Sleep(50 * time.Millisecond) // five intervals
	if checks.Load() != n {
		t.Fatal("checks continue after Close")
	}
	p.Close() // idempotent
	if res, _ := get(p, "GET", time.Now().Add(5*time.Second)); res.Outcome != OK {
		t.Fatalf("Do after Close: %+v", res)
	}
}

// checkers counts the goroutines running a health-check loop.
func checkers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "upstream.(*Pool).checkLoop(")
}

func TestEachAttemptCarriesItsTargetsHost(t *testing.T) {
	hosts := make(chan string, 4)
	good := startServer(t, func(w http.ResponseWriter, r *http.Request) { hosts <- r.Host; ok200(w, r) })
	d := dead(t)
	cfg := testConfig(d, good.URL())
	cfg.EjectAfter = 100
	p := newPool(t, cfg)
	for range 2 { // round robin: one of them tries the dead target first
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.SetHost("client.example")
		req.SetRequestURI("/x")
		req.URI() // parsed, as the proxy's request is
		if res := p.Do(req, resp, time.Now().Add(5*time.Second)); res.Outcome != OK {
			t.Fatalf("%+v", res)
		}
		if h := <-hosts; h != good.addr {
			t.Fatalf("Host %q, want the target's authority %q", h, good.addr)
		}
	}
}
