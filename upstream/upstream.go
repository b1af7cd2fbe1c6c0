// Package upstream holds the targets of each [[upstreams]] entry and their
// pooled fasthttp clients, keeps their health, picks a target for a request
// and retries a connect failure on another one. It classifies every
// failure into the outcomes the proxy maps onto the contract; it never
// writes a client response.
//
// Outcome rules (CONTRACT.md "Upstream normalization", "Idempotency"):
//   - Unavailable: the request never reached a target (connect refused,
//     DNS failure, TLS handshake failure, connect timeout, every connection
//     busy past connect_timeout, no target in rotation). Safe to retry; an
//     idempotency claim is released.
//   - Timeout: no response within the upstream's timeout after the request
//     was sent. The outcome is unknown.
//   - BadResponse: reset, truncated or unparsable response. Unknown too.
//
// Health model. Each target is in rotation unless it is
//   - ejected: passive outlier detection saw eject_after consecutive
//     failures (connect error, reset, timeout, 5xx) and took it out until a
//     time: eject_for, doubled on each repeat up to 10× (the first
//     successful request ends the doubling). Never more than max_ejected
//     of the targets are ejected at once, but one always may; the cap
//     guards against the detector's own mistakes and does not apply to
//     active checks. It returns when its time is up or an active check
//     passes;
//   - down: active checks (health_path) failed unhealthy_after times in a
//     row; healthy_after passes in a row bring it back.
//
// The pool's mutex owns that state; every change publishes an immutable
// snapshot (the targets in rotation, when the next ejection ends, when a
// target is next tried) that the request path reads with one atomic load.
// Consecutive-failure counters and in-flight counts are per-target atomics,
// so a success costs no lock. With no target in rotation Do answers
// Unavailable at once, with RetryAfter = seconds until one is next tried.
//
// Retries: connect failures only, idempotent methods only (RFC 9110
// §9.2.2), on a target not tried yet when there is one, and only while the
// retry budget allows (at most retry_budget of the requests over 10 s, plus
// 3/s), so a dead fleet sees at most (1 + retry_budget) × its traffic
// plus 3/s, whatever `retries` says. A request whose bytes may have
// reached a target is never retried.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

// Outcome classifies one call.
type Outcome uint8

const (
	OK Outcome = iota
	Unavailable
	Timeout
	BadResponse
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Unavailable:
		return "unavailable"
	case Timeout:
		return "timeout"
	}
	return "bad_response"
}

// Reached reports whether the request may have reached the upstream.
func (o Outcome) Reached() bool { return o != Unavailable }

// ErrNoTarget is the Err of an Unavailable result when no target was in
// rotation: every one is ejected or down.
var ErrNoTarget = errors.New("upstream: no target in rotation")

// MaxResponseBody bounds a buffered upstream response; a larger one is a
// bad response (500) rather than unbounded memory. The proxy streams its
// responses (Response.StreamBody), to which the bound does not apply.
const MaxResponseBody = 64 << 20

// ErrRequestBody is wrapped by a request body stream whose read failed on
// the client's side (too large, cut, malformed chunks). Such a failure says
// nothing about the target: it is not counted against its health.
var ErrRequestBody = errors.New("upstream: the request body failed")

// Pool is one [[upstreams]] entry: its targets, their health and the
// retry budget. Do is safe for concurrent use, also after Close (requests
// that started on a replaced config finish on it).
type Pool struct {
	Name    string
	cfg     config.Upstream
	targets []*Target
	log     *slog.Logger
	now     func() time.Time

	leastConn  bool
	maxEjected int // passive ejections allowed at once: max(1, ⌊n·max_ejected⌋)
	next       atomic.Uint64
	snap       atomic.Pointer[snapshot]

	mu sync.Mutex // owns every target's health fields and publishes snap

	budget        budget
	retriesOK     atomic.Uint64
	retriesFailed atomic.Uint64
	retriesDenied atomic.Uint64

	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// Option adjusts New.
type Option func(*options)

type options struct {
	log  *slog.Logger
	now  func() time.Time
	prev *Pool
}

// WithLogger sets where state changes are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClock replaces time.Now for the health state and the retry budget,
// for tests. Timers of the active checker stay on the real clock.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithPrevious takes over the health state of prev (the pool this one
// replaces on reload) for every target with the same URL: ejections and
// their repeat count, consecutive failures, active-check state (when this
// config still checks), counters and the retry budget window. prev may be
// nil; the caller still Closes prev once it is no longer used.
func WithPrevious(prev *Pool) Option { return func(o *options) { o.prev = prev } }

// New builds the pool of an upstream and starts its active health checks
// when health_path is set; Close stops them. Connections are opened lazily.
func New(cfg config.Upstream, opts ...Option) (*Pool, error) {
	o := options{log: slog.Default(), now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("upstream %q: no targets", cfg.Name)
	}
	if cfg.HealthPath != "" && (cfg.HealthInterval <= 0 || cfg.HealthTimeout <= 0) {
		return nil, fmt.Errorf("upstream %q: health_interval and health_timeout must be positive", cfg.Name)
	}
	p := &Pool{
		Name:      cfg.Name,
		cfg:       cfg,
		log:       o.log.With("upstream", cfg.Name),
		now:       o.now,
		leastConn: cfg.Balance == "least_conn",
		stop:      make(chan struct{}),
	}
	p.maxEjected = max(1, int(float64(len(cfg.Targets))*cfg.MaxEjected))
	tc, err := loadTLS(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
	}
	for _, raw := range cfg.Targets {
		t, err := newTarget(cfg, raw, tc)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", cfg.Name, err)
		}
		p.targets = append(p.targets, t)
	}
	now := p.now()
	p.mu.Lock()
	if o.prev != nil && o.prev != p {
		p.takeOver(o.prev)
	}
	p.publishLocked(now)
	p.mu.Unlock()
	if cfg.HealthPath != "" {
		p.startChecks(now)
	}
	return p, nil
}

// Close stops the active health checks (waiting at most health_timeout
// for a probe in progress) and closes idle connections. In-flight and
// later calls to Do still work, without active checks.
func (p *Pool) Close() {
	p.closed.Do(func() {
		close(p.stop)
		p.wg.Wait()
		for _, t := range p.targets {
			t.client.CloseIdleConnections()
		}
	})
}

// Timeout is the upstream's response timeout.
func (p *Pool) Timeout() time.Duration { return p.cfg.Timeout.D() }

// Targets lists the pool's targets in config order.
func (p *Pool) Targets() []*Target { return p.targets }

// Result describes a finished call.
type Result struct {
	Outcome Outcome
	Target  *Target // the last target tried; nil when none was in rotation
	Err     error
	// RetryAfter is the number of seconds until a target is next tried,
	// for Unavailable (at least 1).
	RetryAfter int
	Attempts   int
}

// maxAvoid bounds the targets a retry remembers to avoid.
const maxAvoid = 8

// Do sends req to a target and reads the answer into resp. A connect
// failure of an idempotent request (RFC 9110 §9.2.2) is retried up to
// `retries` times on another target, within the retry budget; other
// methods are never retried, so a retry can never execute a request twice.
// Every answer feeds passive health: a 5xx status counts as a failure of
// its target like a reset or a connect error.
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) Result {
	now := p.now()
	p.budget.deposit(now)
	canRetry := p.cfg.Retries > 0 && idempotent(req.Header.Method())
	var tried [maxAvoid]*Target
	ntried := 0
	res := Result{}
	for attempt := 0; ; attempt++ {
		s := p.current(now)
		t := s.pick(p, tried[:ntried])
		if t == nil {
			if attempt == 0 {
				res.Outcome, res.Err = Unavailable, ErrNoTarget
			}
			break
		}
		if attempt > 0 && !p.budget.withdraw(now, p.cfg.RetryBudget) {
			p.retriesDenied.Add(1)
			break
		}
		t.prepare(req)
		t.inflight.Add(1)
		err := t.client.DoDeadline(req, resp, deadline)
		t.inflight.Add(-1)
		res.Target, res.Err, res.Attempts = t, err, attempt+1
		res.Outcome = classify(err)
		now = p.now()
		p.observe(t, res.Outcome, err, resp, now)
		if attempt > 0 {
			if res.Outcome == OK {
				p.retriesOK.Add(1)
			} else {
				p.retriesFailed.Add(1)
			}
		}
		// The deadline is on the caller's (real) clock; past it fasthttp
		// would answer ErrTimeout without sending, a false Timeout.
		if !canRetry || attempt >= p.cfg.Retries || !isConnectFailure(err) || time.Until(deadline) <= 0 {
			break
		}
		if ntried < maxAvoid {
			tried[ntried] = t
			ntried++
		}
	}
	if res.Outcome == Unavailable {
		res.RetryAfter = p.current(now).retryAfter(now)
	}
	return res
}

// dialError marks a failure to connect (TCP or TLS handshake), so it is
// told apart from a failure on an established connection.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func isConnectFailure(err error) bool {
	_, ok := errors.AsType[*dialError](err) // unlike errors.As, no allocation
	return ok
}

func classify(err error) Outcome {
	if err == nil {
		return OK
	}
	switch {
	case isConnectFailure(err), errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrDialTimeout):
		return Unavailable
	case errors.Is(err, fasthttp.ErrTimeout):
		// fasthttp also answers ErrTimeout when the deadline ran out while
		// waiting for a free connection (remaining time < connect_timeout);
		// that request never left, but Timeout keeps an idempotency claim,
		// the safe side of the ambiguity.
		return Timeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return Timeout
	}
	return BadResponse
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "QUERY":
		return true
	}
	return false
}
