package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/internal/buildinfo"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/tlsconf"
	"github.com/cobaltgw/cobaltgw/tracing"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// The compile step (README.md "Architecture"): config holds the file as
// data and checks its syntax; each policy package builds its runtime
// object from its own section and returns errors tagged with the key
// (config.FieldError). compile calls every one of them, collects every
// error, and places them in the file (config.Config.Report: file:line:col,
// file order, at most 20), so `cobaltgw validate`, the start and a reload
// refuse the same file with the same list. A reload prepares everything
// here before it commits anything.

// Compiled is a config built into everything the request path needs, not
// yet serving: no health check runs and no key set is fetched. It is
// what `cobaltgw validate` and `cobaltgw routes` check and print.
type Compiled struct {
	rt *runtime
	// Warnings are config's warnings (Config.Warnings), then those of the
	// parts (certificates close to expiry, unverified upstreams, skipped
	// keys, OpenAPI notes).
	Warnings []string
}

// Compile runs the compile step on cfg (from config.Decode or
// config.ReadFile; config's own errors are reported with the build
// errors). The error is a *config.ErrorList. Close the result.
func Compile(cfg *config.Config) (*Compiled, error) {
	rt, err := compile(cfg, compileOptions{log: slog.New(slog.DiscardHandler), budget: cfg.Store.MemoryBudget, redis: cfg.Store.Backend == config.BackendRedis})
	if err != nil {
		return nil, err
	}
	return &Compiled{rt: rt, Warnings: append(slices.Clip(cfg.Warnings), rt.warnings...)}, nil
}

// Close releases what the compiled config holds (idle connections).
func (c *Compiled) Close() { c.rt.close() }

// compileOptions are what a compile needs besides the file.
type compileOptions struct {
	log    *slog.Logger
	prev   *runtime    // the running config's, whose pools' health state carries over
	budget config.Size // the running store.memory_budget (fixed at start)
	redis  bool        // the running store is Redis
}

// parts is what each policy package built from its section.
type parts struct {
	policies map[string]*limiter.Policy
	auth     *auth.Setup
	tls      *tlsconf.ServerState // nil without a TLS listener
	idem     idempotency.Config
	table    *contract.Table
	details  *contract.Details
	pools    map[string]*upstream.Pool // built, health checks not started
	routes   []*routeSpec
	files    []string // OpenAPI documents and the files they refer to
	warnings []string
}

// build calls every part's build function and returns every error.
func build(cfg *config.Config, o compileOptions) (*parts, error) {
	p := &parts{pools: map[string]*upstream.Pool{}}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	warn := func(w []string) { p.warnings = append(p.warnings, w...) }
	var err error
	var w []string

	add(ValidateConnLimits(&cfg.Server))
	p.tls, w, err = tlsconf.Build(cfg.Server, time.Now())
	warn(w)
	add(err)
	p.table, p.details, err = buildErrors(&cfg.Errors)
	add(err)
	// The tracer itself is made by the commit (tracer.go) when [tracing]
	// changed; this is its check, with the other parts' errors.
	_, err = tracing.FromConfig(cfg.Tracing, buildinfo.Version())
	add(err)
	if o.redis {
		add(config.Field("store.redis_timeout", limiter.CheckRedisSettings(string(cfg.Store.RateLimitOnStoreError), cfg.Store.RedisTimeout.D())))
	}
	p.auth, w, err = auth.Build(cfg.Auth)
	warn(w)
	add(err)
	p.policies, err = limiter.Build(cfg.RateLimits)
	add(err)
	budget := int64(o.budget)/2 - jwtShare(cfg, o.budget)
	if o.redis {
		budget = 1 // not used by the Redis store
	}
	p.idem, err = idempotency.Build(cfg.Idempotency, budget)
	add(err)
	for i, uc := range cfg.Upstreams {
		opts := []upstream.Option{upstream.WithLogger(o.log)}
		if o.prev != nil && o.prev.pools[uc.Name] != nil {
			opts = append(opts, upstream.WithPrevious(o.prev.pools[uc.Name]))
		}
		pool, w, err := upstream.Build(i, uc, opts...)
		warn(w)
		add(err)
		if pool != nil {
			if old := p.pools[uc.Name]; old != nil {
				old.Close() // a duplicate name, refused by config
			}
			p.pools[uc.Name] = pool
		}
	}
	add(p.buildRoutes(cfg))
	if err := cfg.Report(errs...); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// close releases the pools of a build that will not serve.
func (p *parts) close() {
	for _, pool := range p.pools {
		pool.Close()
	}
}

// buildErrors builds [errors]: the upstream→client table with the
// [errors.map] overrides, each checked against the contract's status set,
// and the [errors.details] sentences, each keyed by a reason code.
func buildErrors(e *config.Errors) (*contract.Table, *contract.Details, error) {
	var errs []error
	overrides := map[int]int{}
	keys := make([]string, 0, len(e.Map))
	for k := range e.Map {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		from, err := strconv.Atoi(k)
		if err != nil {
			continue // config refuses it
		}
		to := e.Map[k]
		if !contract.InSet(to) {
			errs = append(errs, config.FieldErrorf("errors.map."+k, "%d is outside the contract; map to one of %v", to, contract.Statuses))
			continue
		}
		overrides[from] = to
	}
	known := contract.DetailCodes()
	details := map[string]string{}
	for code, s := range e.Details {
		path := "errors.details." + code
		if _, ok := slices.BinarySearch(known, code); !ok {
			if best := config.Closest(code, known); best != "" {
				errs = append(errs, config.FieldErrorf(path, "%q is not a reason code; did you mean %q?", code, best))
			} else {
				errs = append(errs, config.FieldErrorf(path, "%q is not a reason code; write one of the codes listed in docs/operations.md", code))
			}
			continue
		}
		if err := contract.CheckDetail(s); err != nil {
			errs = append(errs, config.Field(path, err))
			continue
		}
		details[code] = s
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	table, err := contract.NewTable(overrides)
	if err != nil {
		return nil, nil, config.Field("errors.map", err)
	}
	d, err := contract.NewDetails(details)
	if err != nil {
		return nil, nil, config.Field("errors.details", err)
	}
	return table, d, nil
}

// compile builds a runtime for cfg (every part, then the routes over
// them) without starting anything; start puts it in service. Upstream
// pools take over the health and ejection state of o.prev's pools of the
// same name, so a reload does not put an ejected target back into
// rotation. On error nothing is left running.
func compile(cfg *config.Config, o compileOptions) (_ *runtime, err error) {
	p, err := build(cfg, o)
	if err != nil {
		return nil, err
	}
	rt := &runtime{cfg: cfg, pools: p.pools, typeURL: cfg.Errors.TypeBase,
		maxBody: int64(cfg.Server.MaxBodyBytes), maxStored: int64(cfg.Idempotency.MaxStoredResponse),
		table: p.table, details: p.details, policies: p.policies, tlsState: p.tls, idemConfig: p.idem,
		files: p.files, specs: p.routes, warnings: p.warnings}
	defer func() {
		if err != nil {
			rt.close()
			err = cfg.Report(err)
		}
	}()
	routes := make([]*route, 0, len(p.routes))
	for _, spec := range p.routes {
		r, err := compileRoute(spec, rt.pools, p.policies)
		if err != nil {
			return nil, err
		}
		if r.maxBody == 0 {
			r.maxBody = int64(cfg.Server.MaxBodyBytes)
		}
		rt.maxBody = max(rt.maxBody, r.maxBody)
		routes = append(routes, r)
	}
	if rt.routes, err = newRouteTable(routes); err != nil {
		return nil, err
	}
	for _, c := range cfg.Server.TrustedProxiesRaw {
		pfx, err := config.ParsePrefix(c)
		if err != nil {
			return nil, config.Field("server.trusted_proxies", err) // config refuses it first
		}
		rt.trusted = append(rt.trusted, pfx)
	}
	rt.idemMode = p.idem.OnReuse
	rt.idemMethods = cfg.Idempotency.Methods
	rt.certRequired = cfg.Server.TLSClientAuth == config.ClientAuthRequired
	rt.maintenanceRetry = int(cfg.Server.MaintenanceRetryAfter.D() / time.Second)
	rt.challenge = auth.AppendChallenge(nil, p.auth.Realm)
	rt.tokens = p.auth.Tokens
	rt.issuers = p.auth.Issuers
	return rt, nil
}

// start puts a compiled runtime in service: the JWT verifier starts
// fetching key sets (taking over prev's cached ones) and the pools their
// health checks. On error the runtime is closed.
func (rt *runtime) start(prev *runtime, log *slog.Logger, cache *auth.TokenCache) error {
	var prevJWT *auth.JWT
	if prev != nil {
		prevJWT = prev.jwt
	}
	var err error
	if rt.jwt, err = auth.NewJWT(rt.issuers, auth.JWTOptions{Cache: cache, Previous: prevJWT, Log: log}); err != nil {
		rt.close()
		return fmt.Errorf("auth.jwt: %w", err)
	}
	for _, p := range rt.pools {
		p.Start()
	}
	return nil
}
