// Package proxy is the gateway's fasthttp server and request pipeline. One
// file, pipeline.go, lists the stages in the order of README.md ("Order
// of checks"); each stage is a small method on the per-request state, so
// the path of a request reads top to bottom. Every decision that refuses a
// request becomes a contract response through package contract.
//
// The running configuration is an immutable *runtime behind an atomic
// pointer: a request loads it once and finishes on it, so a reload never
// changes the rules under a request in flight.
package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/internal/redisconn"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/tlsconf"
	"github.com/cobaltgw/cobaltgw/tracing"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// runtime is one loaded configuration, compiled for the request path.
type runtime struct {
	cfg       *config.Config
	routes    *routeTable
	pools     map[string]*upstream.Pool
	table     *contract.Table
	details   *contract.Details // [errors.details]
	typeURL   string
	trusted   []netip.Prefix
	maxBody   int64 // the largest max_body_bytes of the server and any route
	maxStored int64 // [idempotency] max_stored_response

	idemMode    idempotency.Mode
	idemMethods []string

	certRequired bool // tls_client_auth = "required"

	maintenanceRetry int
	challenge        []byte // Bearer realm="…"
	tokens           *auth.Tokens
	issuers          []auth.JWTIssuer // [[auth.jwt]], checked
	jwt              *auth.JWT        // nil without [[auth.jwt]]; made by start

	// Built by the compile step, applied by the commit (Reload).
	policies   map[string]*limiter.Policy
	tlsState   *tlsconf.ServerState // nil without a TLS listener
	idemConfig idempotency.Config
	specs      []*routeSpec // the routes as built, for `cobaltgw routes`
	files      []string     // OpenAPI documents and their $ref files, for the watch
	warnings   []string     // the parts' warnings (config's are on cfg)
}

// everySecond admits one event per wall-clock second, to keep a log line
// that every request of an outage would write from flooding the log.
type everySecond struct{ last atomic.Int64 }

func (e *everySecond) allow(now time.Time) bool {
	sec, last := now.Unix(), e.last.Load()
	return sec != last && e.last.CompareAndSwap(last, sec)
}

// close stops the background work of the runtime's pools (health checks).
// Requests still in flight on them finish normally.
func (rt *runtime) close() {
	for _, p := range rt.pools {
		p.Close()
	}
	rt.jwt.Close()
}

// Gateway serves the contract in front of the configured upstreams.
type Gateway struct {
	rt       atomic.Pointer[runtime]
	log      *slog.Logger
	lis      listeners // the accept loop, its TLS and fasthttp servers (listener.go)
	inflight atomic.Int64
	conns    connCounter // open client connections (max_conns, max_conns_per_ip)
	now      func() time.Time

	idPrefix [16]byte
	idSeq    atomic.Uint64

	// State that outlives a config: reload reconfigures it in place.
	idem    idempotency.Store
	idemMem *idempotency.Memory // when store.backend = "memory"
	idemRed *idempotency.Redis  // when store.backend = "redis"
	// redis is the one Redis client (store.backend = "redis"), shared by
	// the idempotency store and the rate limiter: see redisconn.Client.
	redis *redisconn.Client
	lim   *limiter.Limiter

	backend      string
	redisConn    *redisconn.Settings // redis_password and redis_timeout, for new connections and calls; reloadable
	memoryBudget config.Size         // store.memory_budget at start
	jwtCache     *auth.TokenCache    // verified JWTs; nil until [[auth.jwt]] is configured

	storeErrLog everySecond

	observer      Observer
	limitObserver LimitObserver
	tracer        atomic.Pointer[tracing.Tracer] // nil without [tracing] endpoint
	tracing       config.Tracing                 // the running tracer's settings
	retiring      retiringTracers                // tracers a reload replaced (tracer.go)

	streamAborts atomic.Uint64 // upstream bodies cut after the head went out
	tun          tunnels       // open WebSocket tunnels
}

// idemMethod reports whether method is in [idempotency].methods.
func (rt *runtime) idemMethod(m []byte) bool {
	for _, x := range rt.idemMethods {
		if x == string(m) {
			return true
		}
	}
	return false
}

// jwtShare is the part of store.memory_budget that holds verified JWTs
// when [[auth.jwt]] issuers are configured: one sixteenth, taken from the
// idempotency half.
func jwtShare(cfg *config.Config, budget config.Size) int64 {
	if len(cfg.Auth.JWT) == 0 {
		return 0
	}
	return int64(budget) / 16
}

// tokenCache returns the verified-JWT cache, made on first need (a config
// with [[auth.jwt]]); memory_budget is read at start only, so its size
// never changes.
func (g *Gateway) tokenCache(cfg *config.Config) (*auth.TokenCache, error) {
	if g.jwtCache != nil || len(cfg.Auth.JWT) == 0 {
		return g.jwtCache, nil
	}
	c, err := auth.NewTokenCache(int64(g.memoryBudget) / 16)
	if err != nil {
		return nil, err
	}
	g.jwtCache = c
	return c, nil
}

// New compiles cfg and builds the server (not yet listening). A config
// that does not compile is refused with every error (*config.ErrorList).
func New(cfg *config.Config, log *slog.Logger) (_ *Gateway, err error) {
	g := &Gateway{log: log, now: time.Now, memoryBudget: cfg.Store.MemoryBudget}
	rt, err := compile(cfg, compileOptions{log: log, budget: cfg.Store.MemoryBudget, redis: cfg.Store.Backend == config.BackendRedis})
	if err != nil {
		return nil, err
	}
	cache, err := g.tokenCache(cfg)
	if err != nil {
		rt.close()
		return nil, err
	}
	if err := rt.start(nil, log, cache); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			rt.close()
		}
	}()
	for _, w := range rt.warnings {
		log.Warn("config", "warning", w)
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seeding request ids: %w", err)
	}
	hex.Encode(g.idPrefix[:], seed[:])
	if g.lim, err = limiter.New(int64(cfg.Store.MemoryBudget) / 2); err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	if err := g.lim.Update(g.now(), policyList(rt.policies)); err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	if err := g.openStores(cfg, rt.idemConfig); err != nil {
		return nil, err
	}
	if rt.tlsState != nil {
		g.lis.tls.Store(newListenerTLS(tlsconf.NewServerFrom(rt.tlsState)))
	}
	tr, err := newTracer(cfg.Tracing)
	if err != nil {
		return nil, err
	}
	g.tracer.Store(tr)
	g.tracing = cfg.Tracing
	g.rt.Store(rt)
	g.lis.gen.Store(g.newGeneration(settingsOf(&cfg.Server)))
	return g, nil
}

// Reload swaps in a new configuration, all or nothing (docs/configuration.md,
// "Reload"). cfg comes from config.Decode: its own errors are reported
// with the parts'. First the compile step (compile.go, the same as
// `cobaltgw validate`) prepares every part that can fail while the running
// config keeps serving untouched: routes, policies, schemas, upstream pools
// and their TLS files, token verifiers, the listener's certificate and the
// store settings; then the listener's server, when its settings changed,
// and the tracer, when [tracing] changed. Then one commit applies them;
// nothing in it can fail. On
// any error the prepared parts are discarded and the running config stays
// whole; the error is a *config.ErrorList for a file's mistakes. Requests
// in flight finish on the runtime they started with.
//
// The listener's timeouts and header size apply to connections accepted
// after the commit (listener.go), as does turning TLS on or off; a changed
// [tracing] gets a new tracer, used by requests that start after the
// commit. The restart-only keys ([server] listen, [admin] listen, [store]
// backend, redis_addrs, memory_budget) keep their running values; the
// caller warns about them.
func (g *Gateway) Reload(cfg *config.Config) error {
	old := g.rt.Load()
	// Prepare: the compile step builds every part (or reports every
	// error), then the runtime starts its key-set fetches and health
	// checks, which serve nothing until the swap.
	rt, err := compile(cfg, compileOptions{log: g.log, prev: old, budget: g.memoryBudget, redis: g.redis != nil})
	if err != nil {
		return err
	}
	cache, err := g.tokenCache(cfg)
	if err != nil {
		rt.close()
		return err
	}
	if err := rt.start(old, g.log, cache); err != nil {
		return err
	}
	fail := func(err error) error {
		rt.close()
		return err
	}
	// New connections get the new TLS state (listener.go): the running
	// holder takes the new files in place; TLS turned on gets a new one;
	// without tls_cert new connections are plain.
	lisTLS := g.lis.tls.Load()
	switch {
	case rt.tlsState == nil:
		lisTLS = nil
	case lisTLS == nil:
		lisTLS = newListenerTLS(tlsconf.NewServerFrom(rt.tlsState))
	}
	var gen *generation
	if set := settingsOf(&cfg.Server); set != g.lis.gen.Load().settings {
		gen = g.newGeneration(set)
	}
	// The tracer is built last: nothing after it can fail, so it never
	// needs to be shut down unused.
	tracer, newTracing := g.tracer.Load(), cfg.Tracing != g.tracing
	if newTracing {
		if tracer, err = newTracer(cfg.Tracing); err != nil {
			return fail(err)
		}
	}

	// Commit: every step below was checked by the compile step.
	g.commit("idempotency store", g.reconfigureIdem(rt.idemConfig))
	if g.redis != nil {
		onStoreErr, redisTimeout := string(cfg.Store.RateLimitOnStoreError), cfg.Store.RedisTimeout.D()
		// New connections authenticate with the new password; open ones
		// stay authenticated.
		g.redisConn.Set(cfg.Store.RedisPassword, redisTimeout)
		g.commit("rate limiter", g.lim.UseRedis(g.redis, onStoreErr, redisTimeout))
	}
	// Policies whose numbers changed keep their buckets (no fresh burst).
	g.commit("rate limiter", g.lim.Update(g.now(), policyList(rt.policies)))
	if lisTLS != nil && rt.tlsState != nil {
		lisTLS.srv.Apply(rt.tlsState)
	}
	g.lis.tls.Store(lisTLS)
	g.rt.Store(rt)
	for _, w := range rt.warnings {
		g.log.Warn("config", "warning", w)
	}
	if gen != nil {
		g.useGeneration(gen)
	}
	if newTracing {
		g.useTracer(tracer, cfg.Tracing)
	}
	// Close can wait up to health_timeout for a check in progress; the
	// old pools keep serving the requests that started on them.
	go old.close()
	return nil
}

// commit logs an error from a commit step. The step was checked while
// preparing, so this is a bug, not a config problem.
func (g *Gateway) commit(what string, err error) {
	if err != nil {
		g.log.Error("reload: a prepared step failed to apply", "part", what, "error", err.Error())
	}
}

// AuthReady reports whether every [[auth.jwt]] issuer has a JWK Set (nil
// when it does, or when none is configured), for /readyz.
func (g *Gateway) AuthReady() error { return g.rt.Load().jwt.Ready() }

// OpenAPIFiles lists the OpenAPI documents the running config imported
// routes from, and the files their $refs name, for the file watch.
func (g *Gateway) OpenAPIFiles() []string { return g.rt.Load().files }

// Config returns the running configuration.
func (g *Gateway) Config() *config.Config { return g.rt.Load().cfg }

// Handler exposes the request handler, for in-process tests and benchmarks.
func (g *Gateway) Handler() fasthttp.RequestHandler { return g.handle }

// Inflight is the number of requests being served.
func (g *Gateway) Inflight() int64 { return g.inflight.Load() }

type slogPrinter struct{ l *slog.Logger }

// Printf logs a message of fasthttp's. Errors and strings among its
// arguments are replaced by their kind: a parse error's text quotes the
// bytes it refused, which may be an Authorization or X-Org-Token line
// (README.md "Security notes"). Addresses and numbers are kept.
func (p slogPrinter) Printf(format string, args ...any) {
	safe := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case error:
			safe[i] = "<error>"
		case string, []byte:
			safe[i] = "<redacted>"
		default:
			safe[i] = a
		}
	}
	p.l.Warn(fmt.Sprintf(format, safe...), "component", "fasthttp")
}

func policyList(policies map[string]*limiter.Policy) []*limiter.Policy {
	out := make([]*limiter.Policy, 0, len(policies))
	for _, p := range policies {
		out = append(out, p)
	}
	return out
}

// LimiterStats reports the rate limiter's cache counters, for metrics.
func (g *Gateway) LimiterStats() limiter.Stats { return g.lim.Stats() }

// IdempotencyStats reports the idempotency store's counters, for metrics.
func (g *Gateway) IdempotencyStats() idempotency.Stats { return g.idem.Stats() }

// Upstreams lists the running config's upstream pools, for the admin
// listener's /upstreams and target metrics.
func (g *Gateway) Upstreams() map[string]*upstream.Pool { return g.rt.Load().pools }

// UpstreamStats reports every upstream's targets and counters, sorted by
// name, for the admin listener's /upstreams.
func (g *Gateway) UpstreamStats() []upstream.Stats {
	pools := g.rt.Load().pools
	out := make([]upstream.Stats, 0, len(pools))
	for _, p := range pools {
		out = append(out, p.Stats())
	}
	slices.SortFunc(out, func(a, b upstream.Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Observer receives one call per finished request. Metrics implement it;
// it must not block and must not keep the byte slices it is given.
type Observer interface {
	ObserveRequest(route string, method []byte, status int, code string, total, upstream time.Duration, upstreamName string)
}

// LimitObserver is implemented by an Observer that also counts 429s per
// rate-limit policy.
type LimitObserver interface {
	RateLimitRejected(policy string)
}

// SetObserver installs o; call it before Serve.
func (g *Gateway) SetObserver(o Observer) {
	g.observer = o
	g.limitObserver, _ = o.(LimitObserver)
}
