package upstream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// signal is one finished call as observe sees it.
type signal struct {
	f      failure
	err    error
	status int
}

var (
	sigConnect  = signal{failConnect, &dialError{errors.New("connection refused")}, 0}
	sigReset    = signal{failClosed, errors.New("connection reset by peer"), 0}
	sigTimeout  = signal{failTimeout, fasthttp.ErrTimeout, 0}
	sig5xx      = signal{failNone, nil, 502}
	sig500      = signal{failNone, nil, 500}
	sig4xx      = signal{failNone, nil, 404}
	sigOK       = signal{failNone, nil, 200}
	sigBusy     = signal{failNoFreeConns, fasthttp.ErrNoFreeConns, 0}
	sigTooLarge = signal{failBadResponse, fasthttp.ErrBodyTooLarge, 0}
	sigStale    = signal{failStale, errStaleConn, 0}
)

func feed(p *Pool, t *Target, now time.Time, sigs ...signal) {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for _, s := range sigs {
		resp.SetStatusCode(s.status)
		if s.status == 0 {
			resp.SetStatusCode(200) // unused: err is set
		}
		p.observe(t, s.f, s.err, resp, now)
	}
}

// Unreachable addresses: these tests never dial.
var twoTargets = []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}

func TestPassiveEjection(t *testing.T) {
	cases := []struct {
		name  string
		sigs  []signal
		eject bool
	}{
		{"eject_after connect errors in a row eject", []signal{sigConnect, sigConnect, sigConnect}, true},
		{"resets, timeouts and 5xx count like connect errors", []signal{sigReset, sigTimeout, sig5xx}, true},
		{"fewer than eject_after do not eject", []signal{sigConnect, sigConnect}, false},
		{"a success resets the count", []signal{sigConnect, sigConnect, sigOK, sigConnect, sigConnect}, false},
		{"a 4xx answer is a success", []signal{sig5xx, sig5xx, sig4xx, sig5xx, sig5xx}, false},
		{"pool busy and an oversized body say nothing", []signal{sigConnect, sigBusy, sigTooLarge, sigConnect, sigConnect}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			cfg := testConfig(twoTargets...)
			cfg.EjectAfter = 3
			p := newPool(t, cfg, WithClock(clk.Now))
			tg := p.Targets()[0]
			feed(p, tg, clk.Now(), tc.sigs...)
			got := stateOf(p, tg.URL)
			if (got.State == StateEjected) != tc.eject {
				t.Fatalf("state %s, want ejected=%v", got.State, tc.eject)
			}
			if live := len(p.current(clk.Now()).live); tc.eject && live != 1 {
				t.Fatalf("%d targets in rotation, want 1", live)
			}
			if tc.eject && got.EjectedUntil != clk.Now().Add(30*time.Second) {
				t.Fatalf("ejected until %v, want eject_for after now", got.EjectedUntil)
			}
		})
	}
}

func TestEjectionTimeDoublesUpTo10x(t *testing.T) {
	clk := newClock()
	cfg := testConfig(twoTargets...)
	cfg.EjectAfter = 1
	log := &logBuf{}
	p := newPool(t, cfg, WithClock(clk.Now), WithLogger(log.logger()))
	tg := p.Targets()[0]
	for i, want := range []time.Duration{30, 60, 120, 240, 300, 300} {
		feed(p, tg, clk.Now(), sigConnect)
		s := stateOf(p, tg.URL)
		if got := s.EjectedUntil.Sub(clk.Now()); got != want*time.Second {
			t.Fatalf("ejection %d lasts %v, want %vs", i+1, got, want)
		}
		clk.Advance(s.EjectedUntil.Sub(clk.Now()))
		if !stateOf(p, tg.URL).Up() || len(p.current(clk.Now()).live) != 2 {
			t.Fatalf("ejection %d: target not back when its time is up", i+1)
		}
	}
	// The first successful request ends the streak.
	feed(p, tg, clk.Now(), sigOK, sigConnect)
	if got := stateOf(p, tg.URL).EjectedUntil.Sub(clk.Now()); got != 30*time.Second {
		t.Fatalf("after a success the ejection lasts %v, want eject_for again", got)
	}
	if n := stateOf(p, tg.URL).Ejections; n != 7 {
		t.Fatalf("ejections = %d, want 7", n)
	}
	for _, line := range []string{"upstream target ejected", "ejection over", "for=5m0s"} {
		if !strings.Contains(log.String(), line) {
			t.Fatalf("log lacks %q:\n%s", line, log.String())
		}
	}
}

func TestMaxEjectedKeepsShareInRotation(t *testing.T) {
	cases := []struct {
		name    string
		targets int
		share   float64
		ejected int
	}{
		{"half of four", 4, 0.5, 2},
		{"half of three rounds down", 3, 0.5, 1},
		{"one may always go: the only target", 1, 0.5, 1},
		{"one may always go: share zero", 2, 0, 1},
		{"all when the share is one", 3, 1, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			var urls []string
			for i := range tc.targets {
				urls = append(urls, "http://127.0.0.1:"+string(rune('1'+i)))
			}
			cfg := testConfig(urls...)
			cfg.EjectAfter, cfg.MaxEjected = 2, tc.share
			cfg.PanicThreshold = 0 // what is ejected leaves rotation
			p := newPool(t, cfg, WithClock(clk.Now))
			for round := 0; round < 3; round++ {
				for _, tg := range p.Targets() {
					feed(p, tg, clk.Now(), sig5xx, sig5xx)
				}
			}
			n := 0
			for _, s := range p.Stats().Targets {
				if s.State == StateEjected {
					n++
				}
			}
			if n != tc.ejected || len(p.current(clk.Now()).live) != tc.targets-tc.ejected {
				t.Fatalf("%d ejected, %d in rotation; want %d ejected", n, len(p.current(clk.Now()).live), tc.ejected)
			}
		})
	}
}

func TestNoTargetInRotationFailsAtOnce(t *testing.T) {
	clk := newClock()
	cfg := testConfig("http://127.0.0.1:1")
	cfg.EjectAfter, cfg.PanicThreshold = 1, 0
	p := newPool(t, cfg, WithClock(clk.Now))
	dials := countDials(p.Targets()[0])
	feed(p, p.Targets()[0], clk.Now(), sigConnect)
	clk.Advance(10*time.Second + 500*time.Millisecond)

	res, _ := get(p, "GET", time.Now().Add(time.Minute))
	if res.Outcome != Unavailable || !errors.Is(res.Err, ErrNoTarget) || res.Target != nil || res.Attempts != 0 || dials.Load() != 0 {
		t.Fatalf("got %+v after %d dials, want Unavailable/ErrNoTarget without a dial", res, dials.Load())
	}
	if res.RetryAfter != 20 {
		t.Fatalf("RetryAfter = %d, want 20 (19.5 s rounded up)", res.RetryAfter)
	}
	clk.Advance(19*time.Second + 400*time.Millisecond)
	if res, _ = get(p, "GET", time.Now().Add(time.Minute)); res.RetryAfter != 1 {
		t.Fatalf("RetryAfter = %d with 0.1 s left, want at least 1", res.RetryAfter)
	}
	clk.Advance(100 * time.Millisecond)
	if live := p.current(clk.Now()).live; len(live) != 1 {
		t.Fatal("target not back in rotation when its ejection time is up")
	}
}

func TestActiveChecksFlipState(t *testing.T) {
	clk := newClock()
	cfg := testConfig(twoTargets...)
	cfg.HealthPath = "/healthz"
	cfg.PanicThreshold = 0 // down targets leave rotation
	log := &logBuf{}
	p := newPool(t, cfg, WithClock(clk.Now), WithLogger(log.logger()))
	p.Close() // the checkers are driven by hand below
	a, b := p.Targets()[0], p.Targets()[1]
	fail := errors.New("status 500")
	steps := []struct {
		name   string
		target *Target
		err    error
		wantA  State
	}{
		{"one failing check is not enough", a, fail, StateUp},
		{"unhealthy_after failures in a row take it out", a, fail, StateDown},
		{"one passing check is not enough", a, nil, StateDown},
		{"a failure restarts the count", a, fail, StateDown},
		{"first of healthy_after passes", a, nil, StateDown},
		{"healthy_after passes in a row bring it back", a, nil, StateUp},
	}
	for _, s := range steps {
		p.checkResult(s.target, s.err, clk.Now())
		if got := stateOf(p, a.URL).State; got != s.wantA {
			t.Fatalf("%s: state %s, want %s", s.name, got, s.wantA)
		}
	}

	// Both down: Unavailable at once, Retry-After until healthy_after
	// checks can pass (next check in 5 s, one more 5 s later).
	for _, tg := range []*Target{a, b, a, b} {
		p.checkResult(tg, fail, clk.Now())
	}
	res, _ := get(p, "GET", time.Now().Add(time.Minute))
	if res.Outcome != Unavailable || res.RetryAfter != 10 {
		t.Fatalf("all down: %+v, want Unavailable with RetryAfter 10", res)
	}

	// A passing check ends a passive ejection.
	p.checkResult(b, nil, clk.Now())
	p.checkResult(b, nil, clk.Now())
	feed(p, b, clk.Now(), sigConnect, sigConnect, sigConnect, sigConnect, sigConnect)
	if stateOf(p, b.URL).State != StateEjected {
		t.Fatal("b not ejected")
	}
	p.checkResult(b, nil, clk.Now())
	if !stateOf(p, b.URL).Up() {
		t.Fatal("a passing check did not end the ejection")
	}
	for _, line := range []string{"active checks fail", "active checks pass", "active check passed"} {
		if !strings.Contains(log.String(), line) {
			t.Fatalf("log lacks %q:\n%s", line, log.String())
		}
	}
}

func TestReloadTakesOverState(t *testing.T) {
	clk := newClock()
	cfg := testConfig(twoTargets...)
	cfg.EjectAfter = 1
	old := newPool(t, cfg, WithClock(clk.Now))
	feed(old, old.Targets()[0], clk.Now(), sigConnect)
	feed(old, old.Targets()[1], clk.Now(), sig5xx) // max_ejected: not ejected
	old.retriesDenied.Add(4)

	next := testConfig(twoTargets[0], "http://127.0.0.1:3")
	next.EjectAfter = 1
	p := newPool(t, next, WithClock(clk.Now), WithPrevious(old))
	kept := stateOf(p, twoTargets[0])
	if kept.State != StateEjected || kept.EjectedUntil != clk.Now().Add(30*time.Second) || kept.Ejections != 1 || kept.LastError == "" {
		t.Fatalf("same URL: %+v, want the old ejection", kept)
	}
	if s := stateOf(p, "http://127.0.0.1:3"); !s.Up() || s.Ejections != 0 {
		t.Fatalf("new URL: %+v, want a fresh target", s)
	}
	if live := p.current(clk.Now()).live; len(live) != 1 || live[0].URL != "http://127.0.0.1:3" {
		t.Fatal("the snapshot does not reflect the taken-over ejection")
	}
	if p.Stats().RetriesBudgetDenied != 4 {
		t.Fatal("counters not carried over")
	}
	// The repeat count came along: the next ejection doubles.
	clk.Advance(30 * time.Second)
	feed(p, p.Targets()[0], clk.Now(), sigConnect)
	if d := stateOf(p, twoTargets[0]).EjectedUntil.Sub(clk.Now()); d != time.Minute {
		t.Fatalf("next ejection lasts %v, want 1m", d)
	}
}

func TestRetryBudgetWindow(t *testing.T) {
	clk := newClock()
	var b budget
	for range 100 {
		b.deposit(clk.Now())
	}
	allowed := 0
	for b.withdraw(clk.Now(), 0.2) {
		allowed++
	}
	if allowed != 50 {
		t.Fatalf("%d retries allowed for 100 requests, want 0.2×100 + 3/s×10 s = 50", allowed)
	}
	clk.Advance(9 * time.Second)
	if b.withdraw(clk.Now(), 0.2) {
		t.Fatal("a retry allowed while the window still holds the spent budget")
	}
	clk.Advance(time.Second)
	if !b.withdraw(clk.Now(), 0.2) {
		t.Fatal("the window did not slide after 10 s")
	}
}

// TestEjectOn: which answers count towards ejection (eject_on).
func TestEjectOn(t *testing.T) {
	sig := func(code int) signal { return signal{failNone, nil, code} }
	cases := []struct {
		name  string
		on    config.EjectOn
		sig   signal
		eject bool
	}{
		{"gateway_errors: an application's 500 does not count", config.EjectOnGatewayErrors, sig500, false},
		{"gateway_errors: 501 does not count", config.EjectOnGatewayErrors, sig(501), false},
		{"gateway_errors: 502 counts", config.EjectOnGatewayErrors, sig(502), true},
		{"gateway_errors: 503 counts", config.EjectOnGatewayErrors, sig(503), true},
		{"gateway_errors: 504 counts", config.EjectOnGatewayErrors, sig(504), true},
		{"gateway_errors: connect errors count", config.EjectOnGatewayErrors, sigConnect, true},
		{"gateway_errors: resets count", config.EjectOnGatewayErrors, sigReset, true},
		{"gateway_errors: timeouts count", config.EjectOnGatewayErrors, sigTimeout, true},
		{"gateway_errors: a stale pooled connection does not count", config.EjectOnGatewayErrors, sigStale, false},
		{"5xx: 500 counts", config.EjectOn5xx, sig500, true},
		{"5xx: 501 counts", config.EjectOn5xx, sig(501), true},
		{"5xx: 502 counts", config.EjectOn5xx, sig(502), true},
		{"5xx: connect errors count", config.EjectOn5xx, sigConnect, true},
		{"5xx: a 4xx does not count", config.EjectOn5xx, sig4xx, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			cfg := testConfig(twoTargets...)
			cfg.EjectOn = tc.on
			p := newPool(t, cfg, WithClock(clk.Now))
			tg := p.Targets()[0]
			for range cfg.EjectAfter {
				feed(p, tg, clk.Now(), tc.sig)
			}
			if got := stateOf(p, tg.URL).State == StateEjected; got != tc.eject {
				t.Fatalf("ejected = %v, want %v", got, tc.eject)
			}
		})
	}
}

// TestPanicThreshold: with fewer than panic_threshold of the targets in
// rotation, the pool balances over all of them.
func TestPanicThreshold(t *testing.T) {
	cases := []struct {
		name      string
		targets   int
		ejected   int
		threshold float64
		panic     bool
		live      int
	}{
		{"one target ejected: still balanced to (never loses its only target)", 1, 1, 0.5, true, 1},
		{"one target ejected, threshold 0: no target, fast 503", 1, 1, 0, false, 0},
		{"half of two in rotation is not less than half", 2, 1, 0.5, false, 1},
		{"none of two in rotation: all of them", 2, 2, 0.5, true, 2},
		{"one of four in rotation, threshold 0.5: all four", 4, 3, 0.5, true, 4},
		{"two of four in rotation, threshold 0.5: the two", 4, 2, 0.5, false, 2},
		{"three of four, threshold 1: all four", 4, 1, 1, true, 4},
		{"all in rotation, threshold 1: no panic", 3, 0, 1, false, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			var urls []string
			for i := range tc.targets {
				urls = append(urls, "http://127.0.0.1:"+string(rune('1'+i)))
			}
			cfg := testConfig(urls...)
			cfg.MaxEjected, cfg.PanicThreshold, cfg.EjectAfter = 1, tc.threshold, 1
			p := newPool(t, cfg, WithClock(clk.Now))
			for _, tg := range p.Targets()[:tc.ejected] {
				feed(p, tg, clk.Now(), sigConnect)
			}
			s := p.current(clk.Now())
			if s.panic != tc.panic || len(s.live) != tc.live || p.Stats().Panic != tc.panic {
				t.Fatalf("panic %v with %d balanced over, want %v with %d", s.panic, len(s.live), tc.panic, tc.live)
			}
			for i := 0; i < 4; i++ {
				get(p, "GET", time.Now().Add(time.Minute))
			}
			if n := p.Stats().PanicRequests; (n == 4) != tc.panic {
				t.Fatalf("%d requests counted in panic mode, panic %v", n, tc.panic)
			}
		})
	}
}

// TestSuccessInPanicModeEndsEjection: "a passing check or request ends
// it" (docs/configuration.md eject_for): an ejected target that answers in panic mode
// is back in rotation.
func TestSuccessInPanicModeEndsEjection(t *testing.T) {
	clk := newClock()
	cfg := testConfig("http://127.0.0.1:1")
	cfg.EjectAfter = 2
	p := newPool(t, cfg, WithClock(clk.Now))
	tg := p.Targets()[0]
	feed(p, tg, clk.Now(), sig5xx, sig5xx)
	if st := p.Stats(); st.Targets[0].State != StateEjected || !st.Panic {
		t.Fatalf("after two 502: %+v", st)
	}
	feed(p, tg, clk.Now(), sig500) // an application error is an answer
	if st := p.Stats(); st.Targets[0].State != StateUp || st.Panic {
		t.Fatalf("after an answer in panic mode: %+v", st)
	}
}
