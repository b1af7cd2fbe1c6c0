package proxy

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/contract"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/upstream"
)

// route is one [[routes]] entry compiled for the request path: everything
// a request needs is precomputed here, so the pipeline only compares bytes.
type route struct {
	cfg  *config.Route
	name string // the configured path: a bounded label for logs and metrics

	base  string // path without "/*"
	exact bool

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
}

func compileRoute(rc *config.Route, pools map[string]*upstream.Pool, policies map[string]*limiter.Policy) (*route, error) {
	r := &route{cfg: rc, name: rc.Path, upstream: pools[rc.Upstream], strip: rc.StripPrefix,
		maxBody: int64(rc.MaxBodyBytes), websocket: rc.Websocket, wsIdle: rc.WebsocketIdleTimeout.D()}
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
	var prefix bool
	r.base, prefix = strings.CutSuffix(rc.Path, "/*")
	r.exact = !prefix
	if prefix && r.base == "" {
		r.base = "/"
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
	if !rc.DeprecationAt.IsZero() {
		r.deprecateAt = rc.DeprecationAt
		r.deprecation = []byte("@" + strconv.FormatInt(rc.DeprecationAt.Unix(), 10))
	}
	if !rc.SunsetAt.IsZero() {
		r.sunsetAt = rc.SunsetAt
		r.sunset = []byte(rc.SunsetAt.UTC().Format(http.TimeFormat))
		if rc.SunsetLink != "" {
			r.sunsetLink = []byte("<" + rc.SunsetLink + `>; rel="sunset"`)
		}
	}
	return r, nil
}

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

// router finds the route of a normalized path: the longest matching path
// wins, an exact route before a prefix route of the same path.
type router struct {
	exact    map[string]*route
	prefixes []*route // longest base first
}

func newRouter(routes []*route) *router {
	rt := &router{exact: map[string]*route{}}
	for _, r := range routes {
		if r.exact {
			rt.exact[r.base] = r
		} else {
			rt.prefixes = append(rt.prefixes, r)
		}
	}
	sort.SliceStable(rt.prefixes, func(i, j int) bool { return len(rt.prefixes[i].base) > len(rt.prefixes[j].base) })
	return rt
}

// match returns the route for path, or nil.
func (rt *router) match(path []byte) *route {
	if r, ok := rt.exact[string(path)]; ok {
		return r
	}
	for _, r := range rt.prefixes {
		// "/v1/assets/*" covers "/v1/assets" and everything below it, but
		// not "/v1/assetsX".
		b := r.base
		if b == "/" || string(path) == b || len(path) > len(b) && string(path[:len(b)]) == b && path[len(b)] == '/' {
			return r
		}
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
