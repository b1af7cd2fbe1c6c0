package proxy

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/openapi"
	"github.com/cobaltgw/cobaltgw/router"
	"github.com/cobaltgw/cobaltgw/schema"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// route is one [[routes]] entry compiled for the request path: everything
// a request needs is precomputed here, so the pipeline only compares bytes.
type route struct {
	cfg  *config.Route
	name string // the configured path: a bounded label for logs and metrics

	pattern *router.Pattern // the path's kind, segments and parameters
	// ops are the per-method routes of a route imported from OpenAPI
	// (each operation's auth, scopes, produces, schemas, deprecation).
	ops map[string]*route

	methods  []string
	hasGET   bool
	allow    []byte // Allow: the methods, HEAD wherever GET is, OPTIONS
	forwards bool   // OPTIONS is in the route's methods, so it is forwarded

	produces   []mediaType
	acceptable []byte // `"acceptable":[…]` for the 406 body

	upstream *upstream.Pool
	strip    string
	limits   *limiter.Route // nil without rate_limits

	deprecation []byte // "@<unix seconds>" (RFC 9745 §2.1)
	deprecateAt time.Time
	sunset      []byte // IMF-fixdate (RFC 8594 §3)
	sunsetAt    time.Time
	sunsetLink  []byte // `<url>; rel="sunset"`

	maxBody   int64 // max_body_bytes, [server]'s when the route sets none
	websocket bool
	wsIdle    time.Duration

	schema       *schema.Schema  // the request body's schema; nil = no body check
	params       *openapi.Params // declared parameters (imported routes)
	source       string          // "file#/paths/…" for an imported route
	bodyRequired bool            // an imported operation requires a body
}

func compileRoute(spec *routeSpec, pools map[string]*upstream.Pool, policies map[string]*limiter.Policy) (*route, error) {
	rc := &spec.cfg
	r := &route{cfg: rc, name: rc.Path, upstream: pools[rc.Upstream], strip: rc.StripPrefix,
		maxBody: int64(rc.MaxBodyBytes), websocket: rc.Websocket, wsIdle: rc.WebsocketIdleTimeout.D(),
		schema: spec.schema, params: spec.params, source: spec.source, bodyRequired: spec.bodyRequired}
	if r.websocket && r.wsIdle <= 0 {
		return nil, fmt.Errorf("route %q: websocket_idle_timeout must be positive, e.g. \"60s\"", rc.Path)
	}
	if r.upstream == nil && rc.Upstream != "" {
		return nil, fmt.Errorf("route %q: unknown upstream %q", rc.Path, rc.Upstream)
	}
	if len(rc.RateLimits) > 0 {
		ps := make([]*limiter.Policy, 0, len(rc.RateLimits))
		for _, name := range rc.RateLimits {
			if policies[name] == nil {
				return nil, fmt.Errorf("route %q: unknown rate limit %q", rc.Path, name)
			}
			ps = append(ps, policies[name])
		}
		lr, err := limiter.NewRoute(rc.Path, ps)
		if err != nil {
			return nil, err
		}
		r.limits = lr
	}
	allow := make([]string, 0, len(rc.Methods)+2)
	for _, m := range rc.Methods {
		r.methods = append(r.methods, m)
		allow = append(allow, m)
		if m == "GET" {
			r.hasGET = true
		}
		if m == "OPTIONS" {
			r.forwards = true
		}
	}
	if r.hasGET {
		allow = append(allow, "HEAD")
	}
	if !r.forwards {
		allow = append(allow, "OPTIONS")
	}
	r.allow = []byte(strings.Join(allow, ", "))
	acc := []byte(`"acceptable":[`)
	for i, p := range rc.Produces {
		r.produces = append(r.produces, parseMediaType(p))
		if i > 0 {
			acc = append(acc, ',')
		}
		acc = contract.AppendJSONString(acc, p)
	}
	r.acceptable = append(acc, ']')
	if len(spec.ops) > 0 {
		r.ops = map[string]*route{}
		for m, oc := range spec.ops {
			op, err := compileRoute(oc, pools, policies)
			if err != nil {
				return nil, err
			}
			op.limits, op.methods, op.hasGET, op.allow, op.forwards = r.limits, r.methods, r.hasGET, r.allow, r.forwards
			r.ops[m] = op
		}
	}
	if !spec.deprecateAt.IsZero() {
		r.deprecateAt = spec.deprecateAt
		r.deprecation = []byte("@" + strconv.FormatInt(spec.deprecateAt.Unix(), 10))
	}
	if !spec.sunsetAt.IsZero() {
		r.sunsetAt = spec.sunsetAt
		r.sunset = []byte(spec.sunsetAt.UTC().Format(http.TimeFormat))
		if rc.SunsetLink != "" {
			r.sunsetLink = []byte("<" + rc.SunsetLink + `>; rel="sunset"`)
		}
	}
	return r, nil
}

// operation is the route of method on a route imported from OpenAPI
// (HEAD is GET's), or r itself.
func (r *route) operation(method []byte) *route {
	if r.ops == nil {
		return r
	}
	if string(method) == "HEAD" {
		method = methodGET
	}
	if op := r.ops[string(method)]; op != nil {
		return op
	}
	return r
}

var methodGET = []byte("GET")

// allows reports whether method is in the route's set, HEAD counting as GET.
func (r *route) allows(method []byte) bool {
	if r.hasGET && string(method) == "HEAD" {
		return true
	}
	for _, m := range r.methods {
		if m == string(method) {
			return true
		}
	}
	return false
}

// gone reports whether the route answers 410 at now: retired, or past its
// sunset (RFC 8594).
func (r *route) gone(now time.Time) bool {
	return r.cfg.Gone || !r.sunsetAt.IsZero() && !now.Before(r.sunsetAt)
}

// routeTable finds the route of a normalized path (router.Router: exact
// beats template beats prefix, then the most literal characters).
type routeTable struct {
	router *router.Router
	routes []*route // by the router's index
}

func newRouteTable(routes []*route) (*routeTable, error) {
	paths := make([]string, len(routes))
	for i, r := range routes {
		paths[i] = r.cfg.Path
	}
	rt, err := router.New(paths)
	if err != nil {
		return nil, err
	}
	for i, r := range routes {
		r.pattern = rt.Pattern(i)
		for _, op := range r.ops {
			// What the whole path shares (set on r after compileRoute).
			op.pattern, op.maxBody = r.pattern, r.maxBody
		}
	}
	return &routeTable{router: rt, routes: routes}, nil
}

// match returns the route for path, or nil.
func (t *routeTable) match(path []byte) *route {
	if i := t.router.Match(path); i >= 0 {
		return t.routes[i]
	}
	return nil
}

// stripPrefix removes the route's strip_prefix at a segment boundary; the
// result is never empty.
func (r *route) stripPrefix(path []byte) []byte {
	s := r.strip
	if s == "" || len(path) < len(s) || string(path[:len(s)]) != s {
		return path
	}
	if len(path) == len(s) {
		return path[:1] // "/": a view of the leading slash
	}
	if path[len(s)] != '/' {
		return path
	}
	return path[len(s):]
}
