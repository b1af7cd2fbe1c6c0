// Package upstream holds the targets of each [[upstreams]] entry and their
// pooled fasthttp clients, keeps their health, picks a target for a request
// and decides whether a failed attempt goes again. It classifies every
// failure into the outcomes the proxy maps onto the contract; it never
// writes a client response.
//
// Outcome rules (README.md "Upstream normalization", "Idempotency"):
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
//     failures (eject_on: "gateway_errors" counts connect errors, resets,
//     timeouts, bad responses, 502, 503 and 504; "5xx" every 5xx too) and
//     took it out until a time: eject_for, doubled on each repeat up to
//     10× (the first successful request ends the doubling). Never more
//     than max_ejected of the targets are ejected at once, but one always
//     may; the cap guards against the detector's own mistakes and does not
//     apply to active checks. It returns when its time is up, an active
//     check passes, or (in panic mode) a request to it succeeds;
//   - down: active checks (health_path) failed unhealthy_after times in a
//     row; healthy_after passes in a row bring it back.
//
// Panic mode: when fewer than panic_threshold of the targets are in
// rotation, the snapshot balances over all of them as if all were healthy
// (Envoy's panic threshold), so a one-target upstream never loses its only
// target. With panic_threshold = 0 and no target in rotation, Do answers
// Unavailable at once, with RetryAfter = seconds until one is next tried.
//
// The pool's mutex owns that state; every change publishes an immutable
// snapshot (the targets to balance over, when the next ejection ends, when
// a target is next tried) that the request path reads with one atomic
// load. Consecutive-failure counters and in-flight counts are per-target
// atomics, so a success costs no lock.
//
// Retries (RetryDecision; README.md "Upstream resilience"): a connect
// failure for any method; a connection closed or reset before any response
// byte only for an idempotent method (RFC 9110 §9.2.2) whose body is held;
// never after a timeout. A retry goes to a target not tried yet when there
// is one, else, only after a failure on a pooled keep-alive connection, to
// the same target on a new connection; it counts against `retries` and
// the retry budget (at most retry_budget of the requests over 10 s, plus
// 3/s), so a dead fleet sees at most (1 + retry_budget) × its traffic
// plus 3/s. A pooled connection found closed by the upstream before
// anything was written on it (see conn) is not a retry: the request goes
// out on another connection, any method. fasthttp's own retry is off, so
// every attempt is one call in Do's loop.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
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
	eject5xx   bool // eject_on = "5xx"
	maxEjected int  // passive ejections allowed at once: max(1, ⌊n·max_ejected⌋)
	next       atomic.Uint64
	snap       atomic.Pointer[snapshot]

	mu        sync.Mutex // owns every target's health fields and publishes snap
	panicking bool       // the last published snapshot is in panic mode; guarded by mu

	budget        budget
	retriesOK     atomic.Uint64
	retriesFailed atomic.Uint64
	retriesDenied atomic.Uint64
	staleConns    atomic.Uint64 // pooled connections found closed before sending
	panicRequests atomic.Uint64 // requests balanced in panic mode

	stop    chan struct{}
	wg      sync.WaitGroup
	closed  sync.Once
	started sync.Once
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
	p, err := build(cfg, opts...)
	if err != nil {
		return nil, err
	}
	p.Start()
	return p, nil
}

// Start begins the active health checks of a pool made by Build (when
// health_path is set). It is called once, when the pool's config is
// committed; New calls it itself.
func (p *Pool) Start() {
	p.started.Do(func() {
		if p.cfg.HealthPath != "" {
			p.startChecks(p.now())
		}
	})
}

func build(cfg config.Upstream, opts ...Option) (*Pool, error) {
	o := options{log: slog.Default(), now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	p := &Pool{
		Name:      cfg.Name,
		cfg:       cfg,
		log:       o.log.With("upstream", cfg.Name),
		now:       o.now,
		leastConn: cfg.Balance == "least_conn",
		eject5xx:  cfg.EjectOn == config.EjectOn5xx,
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
	return p, nil
}

// Validate checks the keys of an [[upstreams]] entry that this package
// reads and config does not check (eject_on, panic_threshold), and what
// New needs. Errors name the key and what to write instead.
func Validate(cfg config.Upstream) error {
	var errs []error
	for _, ke := range check(cfg) {
		errs = append(errs, fmt.Errorf("upstream %q: %s: %w", cfg.Name, ke.key, ke.err))
	}
	return errors.Join(errs...)
}

// keyError is a problem with one key of an [[upstreams]] entry.
type keyError struct {
	key string
	err error
}

func check(cfg config.Upstream) []keyError {
	var errs []keyError
	if len(cfg.Targets) == 0 {
		errs = append(errs, keyError{"targets", errors.New("no targets; list one or more, e.g. [\"http://127.0.0.1:9000\"]")})
	}
	if cfg.HealthPath != "" && cfg.HealthInterval <= 0 {
		errs = append(errs, keyError{"health_interval", errors.New("must be positive with health_path set, e.g. \"5s\"")})
	}
	if cfg.HealthPath != "" && cfg.HealthTimeout <= 0 {
		errs = append(errs, keyError{"health_timeout", errors.New("must be positive with health_path set, e.g. \"1s\"")})
	}
	switch cfg.EjectOn {
	case config.EjectOnGatewayErrors, config.EjectOn5xx:
	default:
		errs = append(errs, keyError{"eject_on", fmt.Errorf("%q: write \"gateway_errors\" (connect errors, resets, timeouts, 502, 503, 504) or \"5xx\" (every 5xx)", cfg.EjectOn)})
	}
	if !(cfg.PanicThreshold >= 0 && cfg.PanicThreshold <= 1) { // also NaN
		errs = append(errs, keyError{"panic_threshold", fmt.Errorf("%v: write a share from 0 to 1, e.g. 0.5 (0 = never balance over ejected targets)", cfg.PanicThreshold)})
	}
	return errs
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

// maxStale bounds the pooled connections one request may find closed by
// the upstream before it goes out; after staleFlush of them on one target
// its idle connections are closed, so the next attempt dials.
const (
	maxStale   = 4
	staleFlush = 2
)

// Do sends req to a target and reads the answer into resp, one attempt at
// a time (each attempt is one exchange on one connection). After a failed
// attempt RetryDecision says whether the request may go again; then it
// goes to a target not tried yet when one is in rotation. With none, it
// goes to the same target on a new connection only when the failed one
// was a pooled keep-alive connection (closed by the upstream while idle,
// or just as the request was sent). A retry counts against `retries` and
// the retry budget; a request resent because its pooled connection was
// found closed before anything was written is not a retry (nothing
// reached the upstream) and is bounded by maxStale. Every answer feeds
// passive health (see eject_on).
func (p *Pool) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) Result {
	return p.DoObserved(req, resp, deadline, nil)
}

// AttemptObserver is told of each attempt of one DoObserved call (package
// tracing makes a client span of each, so retries are visible).
type AttemptObserver interface {
	// AttemptStart runs before attempt n (1, 2, …) is sent to target; it
	// may set request fields (traceparent).
	AttemptStart(req *fasthttp.Request, target string, n int)
	// AttemptEnd reports its result: the upstream's status (0 when no
	// response arrived) and the failure ("" when it answered).
	AttemptEnd(status int, failure string)
}

// DoObserved is Do with obs (which may be nil) told of every attempt.
func (p *Pool) DoObserved(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, obs AttemptObserver) Result {
	now := p.now()
	p.budget.deposit(now)
	method := req.Header.Method()
	bodyHeld := !req.IsBodyStream()
	s := p.current(now)
	if s.panic {
		p.panicRequests.Add(1)
	}
	t := s.pick(p, nil)
	res := Result{}
	if t == nil {
		res.Outcome, res.Err = Unavailable, ErrNoTarget
		res.RetryAfter = s.retryAfter(now)
		return res
	}
	var tried [maxAvoid]*Target
	ntried, retries, stale, staleHere := 0, 0, 0, 0
	retrying := false // the current attempt is a retry (not a resend after a stale connection)
	for {
		if obs != nil {
			obs.AttemptStart(req, t.URL, res.Attempts+1)
		}
		a := p.attempt(t, req, resp, deadline)
		res.Target, res.Err, res.Outcome = t, a.err, a.fail.outcome()
		res.Attempts++
		if obs != nil {
			if a.err == nil {
				obs.AttemptEnd(resp.StatusCode(), "")
			} else {
				obs.AttemptEnd(0, res.Outcome.String())
			}
		}
		now = p.now()
		p.observe(t, a.fail, a.err, resp, now)
		if retrying {
			if a.fail == failNone {
				p.retriesOK.Add(1)
			} else {
				p.retriesFailed.Add(1)
			}
		}
		// The deadline is on the caller's (real) clock; past it fasthttp
		// would answer ErrTimeout without sending, a false Timeout.
		if a.fail == failNone || !RetryDecision(a.err, method, bodyHeld, a.started) || time.Until(deadline) <= 0 {
			break
		}
		if ntried < maxAvoid && !contains(tried[:ntried], t) {
			tried[ntried] = t
			ntried++
		}
		next := p.current(now).pick(p, tried[:ntried])
		if next == nil || contains(tried[:ntried], next) {
			// No other target: the same one, on a new connection, only
			// when the failed connection was a pooled one.
			if a.fail != failStale && !(a.fail == failClosed && a.reused) {
				break
			}
			next = t
		}
		retrying = a.fail != failStale
		if !retrying {
			stale++
			p.staleConns.Add(1)
			if stale > maxStale {
				break
			}
		} else {
			if retries >= p.cfg.Retries {
				break
			}
			if !p.budget.withdraw(now, p.cfg.RetryBudget) {
				p.retriesDenied.Add(1)
				break
			}
			retries++
		}
		if next == t {
			staleHere++
			if a.fail != failStale || staleHere >= staleFlush {
				t.client.CloseIdleConnections()
			}
		} else {
			staleHere = 0
		}
		t = next
	}
	if res.Outcome == Unavailable {
		res.RetryAfter = p.current(now).retryAfter(now)
	}
	return res
}

// attemptResult is one exchange with one target.
type attemptResult struct {
	err     error
	fail    failure
	reused  bool // the connection had served a request before
	started bool // a response byte arrived
}

// attempt sends req to t once (fasthttp's own retry is off, see
// newTarget) and classifies the result.
func (p *Pool) attempt(t *Target, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) attemptResult {
	t.prepare(req)
	t.inflight.Add(1)
	err := t.client.DoDeadline(req, resp, deadline)
	t.inflight.Add(-1)
	a := attemptResult{err: err}
	if err != nil {
		// The connection is closed after a failed call, so no other
		// request can be using it now.
		if c := exchangeOf(resp.LocalAddr()); c != nil {
			a.reused, a.started = c.reused, c.started
		}
	}
	a.fail = classifyFailure(err, a.started)
	return a
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

// outcome maps a failure onto what the proxy answers: nothing sent is
// Unavailable (an idempotency claim is released), a timeout is Timeout,
// anything after sending is BadResponse.
func (f failure) outcome() Outcome {
	switch f {
	case failNone:
		return OK
	case failConnect, failStale, failNoFreeConns:
		return Unavailable
	case failTimeout:
		// fasthttp also answers ErrTimeout when the deadline ran out while
		// waiting for a free connection (remaining time < connect_timeout);
		// that request never left, but Timeout keeps an idempotency claim,
		// the safe side of the ambiguity.
		return Timeout
	}
	return BadResponse
}
