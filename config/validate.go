package config

import (
	"fmt"
	"math"
	"mime"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/httpsyntax"
)

type validator struct {
	cfg  *Config
	ix   *index
	file string
	errs []*Error
	bad  map[string]bool // key paths the decoder refused: not checked again
	// flagged are the key paths of every error, so the compile step does
	// not report them again (Config.Report).
	flagged map[string]bool
}

// errf records an error at the key path's place in the file, unless the
// decoder already refused that key.
func (v *validator) errf(path, format string, args ...any) {
	if v.bad[path] {
		return
	}
	v.flagged[path] = true
	at := v.ix.nearest(path)
	v.errs = append(v.errs, &Error{v.file, at.line, at.col, path + ": " + fmt.Sprintf(format, args...)})
}

// required reports that the entry at p lacks key, or has it empty. A key
// the decoder refused for its type is not reported again.
func (v *validator) required(p, key, example string) {
	if v.ix.has(p + "." + key) {
		v.errf(p+"."+key, "must not be empty; write e.g. %s", example)
		return
	}
	v.errf(p, "%s is required, e.g. %s", key, example)
}

func (v *validator) validate() {
	v.server()
	v.admin()
	v.errors()
	v.store()
	v.auth()
	v.rateLimits()
	v.idempotency()
	ups := v.upstreams()
	v.routes(ups)
	v.openAPI(ups)
	v.tlsFiles()
	v.observability()
}

// resolve makes a relative file name relative to the config's folder.
func (v *validator) resolve(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(v.cfg.Dir, name)
}

// tlsFiles resolves the names of certificate, key and CA files against
// the config's folder. Packages tlsconf and upstream read and check the
// files when they build (tlsconf.Build, upstream.Build).
func (v *validator) tlsFiles() {
	s := &v.cfg.Server
	s.TLSCert, s.TLSKey, s.TLSClientCA = v.resolve(s.TLSCert), v.resolve(s.TLSKey), v.resolve(s.TLSClientCA)
	for i := range v.cfg.Upstreams {
		u := &v.cfg.Upstreams[i]
		u.TLSCA, u.TLSCert, u.TLSKey = v.resolve(u.TLSCA), v.resolve(u.TLSCert), v.resolve(u.TLSKey)
	}
}

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errf(path, "must be a positive duration such as \"1s\"")
	}
}

func (v *validator) oneOf(path, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.errf(path, "%q is not allowed; write one of %s", val, quoteList(allowed))
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

func (v *validator) hostPort(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errf(path, "%q is not host:port; write an address such as \"127.0.0.1:8080\"", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.errf(path, "%q has no valid port; write a port from 0 to 65535", addr)
	}
}

func (v *validator) server() {
	s := &v.cfg.Server
	v.hostPort("server.listen", s.Listen)
	v.positive("server.read_timeout", s.ReadTimeout)
	v.positive("server.write_timeout", s.WriteTimeout)
	v.positive("server.idle_timeout", s.IdleTimeout)
	if s.MaxHeaderBytes < 1024 {
		v.errf("server.max_header_bytes", "must be at least \"1KiB\" to hold a request line and its headers")
	}
	if s.MaxHeaderBytes > 1<<20 {
		v.errf("server.max_header_bytes", "must be at most \"1MiB\"")
	}
	if s.MaxBodyBytes < 1 {
		v.errf("server.max_body_bytes", "must be at least 1 byte, e.g. \"1MiB\"")
	}
	if s.MaxConcurrent < 0 {
		v.errf("server.max_concurrent", "must be 0 (unlimited) or a positive number of in-flight requests")
	}
	for i, c := range s.TrustedProxiesRaw {
		if _, err := ParsePrefix(c); err != nil {
			v.errf("server.trusted_proxies", "entry %d %q is not a CIDR; write one such as \"10.0.0.0/8\" or \"127.0.0.1/32\"", i+1, c)
		}
	}
	if s.MaintenanceRetryAfter < Duration(time.Second) {
		v.errf("server.maintenance_retry_after", "must be at least \"1s\" (Retry-After is in whole seconds)")
	}
	if s.ShutdownGrace < 0 {
		v.errf("server.shutdown_grace", "must not be negative")
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		v.errf("server.tls_cert", "tls_cert and tls_key go together; set both or neither")
	}
	if s.TLSClientAuth != "off" && (s.TLSClientCA == "" || s.TLSCert == "") {
		v.errf("server.tls_client_auth", "%q needs tls_client_ca and a TLS listener (tls_cert, tls_key)", s.TLSClientAuth)
	}
}

func (v *validator) admin() {
	if v.cfg.Admin.Listen != "" {
		v.hostPort("admin.listen", v.cfg.Admin.Listen)
	}
}

func (v *validator) errors() {
	e := &v.cfg.Errors
	if e.TypeBase != "" {
		if u, err := url.Parse(e.TypeBase); err != nil || u.Scheme == "" {
			v.errf("errors.type_base", "%q is not an absolute URL; write one such as \"https://docs.example.com/errors/\"", e.TypeBase)
		}
	}
	for k := range e.Map {
		if from, err := strconv.Atoi(k); err != nil || from < 100 || from > 599 {
			v.errf("errors.map."+k, "%q is not an upstream status; keys are statuses from 100 to 599, e.g. 502 = 503", k)
		}
	}
}

func (v *validator) store() {
	s := &v.cfg.Store
	if s.MemoryBudget < 2<<20 {
		v.errf("store.memory_budget", "must be at least \"2MiB\" (half bounds the rate-limit buckets, half the idempotency records, each at least 1MiB)")
	}
	if s.Backend == "redis" {
		if len(s.RedisAddrs) == 0 {
			v.errf("store.redis_addrs", "backend \"redis\" needs at least one address such as \"127.0.0.1:6379\"")
		}
		for _, a := range s.RedisAddrs {
			v.hostPort("store.redis_addrs", a)
		}
	}
	v.positive("store.redis_timeout", s.RedisTimeout)
}

// auth resolves jwks_file names against the config's folder; package
// auth checks [auth] when it builds (auth.Build).
func (v *validator) auth() {
	a := &v.cfg.Auth
	for i := range a.JWT {
		a.JWT[i].JWKSFile = v.resolve(a.JWT[i].JWKSFile)
	}
}

// rateLimits checks that each [rate_limits.NAME] sets its keys; package
// limiter checks their values when it builds the policies (limiter.Build).
func (v *validator) rateLimits() {
	for name := range v.cfg.RateLimits {
		p := "rate_limits." + name
		for _, req := range []struct{ key, example string }{
			{"key", `key = "ip" (or "token", "header:<Name>", "route", "client_cert")`},
			{"rate", "rate = 50 (tokens per second, fractions allowed)"},
			{"burst", "burst = 100 (bucket capacity, at least 1)"},
		} {
			if !v.ix.has(p + "." + req.key) {
				v.errf(p, "%s is required: write %s", req.key, req.example)
			}
		}
	}
}

func (v *validator) idempotency() {
	id := &v.cfg.Idempotency
	for _, m := range id.Methods {
		if !httpsyntax.IsToken(m) || strings.ToUpper(m) != m {
			v.errf("idempotency.methods", "%q is not an upper-case method name such as \"POST\"", m)
		}
	}
	v.positive("idempotency.ttl", id.TTL)
	v.positive("idempotency.lock_timeout", id.LockTimeout)
	if id.MaxStoredResponse < 0 {
		v.errf("idempotency.max_stored_response", "must not be negative")
	}
	if id.LockTimeout > id.TTL {
		v.errf("idempotency.lock_timeout", "must not exceed ttl (%s)", id.TTL.D())
	}
}

func (v *validator) upstreams() map[string]*Upstream {
	byName := map[string]*Upstream{}
	for i := range v.cfg.Upstreams {
		u := &v.cfg.Upstreams[i]
		p := fmt.Sprintf("upstreams[%d]", i)
		if u.Name == "" {
			v.required(p, "name", `name = "api"`)
		} else if byName[u.Name] != nil {
			v.errf(p+".name", "%q is used by an earlier upstream; names must be unique", u.Name)
		}
		byName[u.Name] = u
		if len(u.Targets) == 0 {
			v.required(p, "targets", `targets = ["http://127.0.0.1:9000"]`)
		}
		for _, t := range u.Targets {
			if _, _, _, err := ParseTarget(t); err != nil {
				v.errf(p+".targets", "%v", err)
			}
		}
		v.positive(p+".connect_timeout", u.ConnectTimeout)
		v.positive(p+".timeout", u.Timeout)
		if u.MaxConns < 1 {
			v.errf(p+".max_conns", "must be at least 1 connection per target")
		}
		if u.Retries < 0 {
			v.errf(p+".retries", "must be 0 or more")
		}
		if u.RetryBudget < 0 || u.RetryBudget > 1 || math.IsNaN(u.RetryBudget) {
			v.errf(p+".retry_budget", "must be a share from 0 to 1, e.g. 0.2")
		}
		if u.HealthPath != "" && !strings.HasPrefix(u.HealthPath, "/") {
			v.errf(p+".health_path", "%q must start with \"/\"", u.HealthPath)
		}
		v.positive(p+".health_interval", u.HealthInterval)
		v.positive(p+".health_timeout", u.HealthTimeout)
		for _, k := range []struct {
			name string
			n    int
		}{{"healthy_after", u.HealthyAfter}, {"unhealthy_after", u.UnhealthyAfter}, {"eject_after", u.EjectAfter}} {
			if k.n < 1 {
				v.errf(p+"."+k.name, "must be at least 1")
			}
		}
		v.positive(p+".eject_for", u.EjectFor)
		if u.MaxEjected < 0 || u.MaxEjected > 1 || math.IsNaN(u.MaxEjected) {
			v.errf(p+".max_ejected", "must be a share from 0 to 1, e.g. 0.5")
		}
		if !(u.PanicThreshold >= 0 && u.PanicThreshold <= 1) { // also NaN
			v.errf(p+".panic_threshold", "must be a share from 0 to 1, e.g. 0.5 (0 = never balance over ejected targets)")
		}
		if (u.TLSCert == "") != (u.TLSKey == "") {
			v.errf(p+".tls_cert", "tls_cert and tls_key go together; set both or neither")
		}
	}
	return byName
}

// ParsePrefix reads a trusted_proxies entry: a CIDR, or one address (a
// prefix of its full length). The prefix is masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return p.Masked(), nil
}

// ParseTarget splits an upstream target URL into scheme, host:port (with
// the scheme's default port filled in) and host name.
func ParseTarget(t string) (scheme, addr, host string, err error) {
	u, perr := url.Parse(t)
	if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", fmt.Errorf("target %q is not an http:// or https:// URL such as \"http://127.0.0.1:9000\"", t)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return "", "", "", fmt.Errorf("target %q must be scheme://host:port only (no path, query or credentials)", t)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", "", fmt.Errorf("target %q has no valid port", t)
	}
	return u.Scheme, net.JoinHostPort(host, port), host, nil
}

// routes checks each [[routes]] entry's own keys and its references;
// packages router, schema, auth and limiter check what they build from it.
func (v *validator) routes(ups map[string]*Upstream) {
	for i := range v.cfg.Routes {
		r := &v.cfg.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		if r.Path == "" {
			v.required(p, "path", `path = "/v1/assets" or "/v1/assets/*"`)
		} else if msg := routePathProblem(r.Path); msg != "" {
			v.errf(p+".path", "%q %s", r.Path, msg)
		}
		if len(r.Methods) == 0 && !r.Gone && !r.Teapot {
			v.required(p, "methods", `methods = ["GET", "POST"]`)
		}
		for _, m := range r.Methods {
			switch {
			case !httpsyntax.IsToken(m) || strings.ToUpper(m) != m:
				v.errf(p+".methods", "%q is not an upper-case method name such as \"GET\"", m)
			case m == "BREW" || m == "WHEN":
				v.errf(p+".methods", "%q always answers 418 (HTCPCP); remove it, or set teapot = true", m)
			case m == "HEAD":
				v.errf(p+".methods", "HEAD is allowed wherever GET is; list GET instead")
			}
		}
		switch {
		case r.Upstream == "" && !r.Gone && !r.Teapot:
			v.required(p, "upstream", `upstream = "api" (it may be left out only when gone or teapot is set)`)
		case r.Upstream != "" && ups[r.Upstream] == nil:
			v.errf(p+".upstream", "%q is not the name of any [[upstreams]]%s", r.Upstream, nameHint(r.Upstream, upstreamNames(v.cfg)))
		}
		if r.StripPrefix != "" && (!strings.HasPrefix(r.StripPrefix, "/") || strings.HasSuffix(r.StripPrefix, "/")) {
			v.errf(p+".strip_prefix", "%q must start with \"/\" and not end with one, e.g. \"/v1\"", r.StripPrefix)
		}
		if len(r.Scopes) > 0 && !r.Auth {
			v.errf(p+".scopes", "scopes need auth = true on the route")
		}
		for _, name := range r.RateLimits {
			if _, ok := v.cfg.RateLimits[name]; !ok {
				v.errf(p+".rate_limits", "%q is not a [rate_limits.*] policy%s", name, nameHint(name, policyNames(v.cfg)))
			}
		}
		if r.RequireIdempotencyKey && !r.Idempotency {
			v.errf(p+".require_idempotency_key", "needs idempotency = true on the route")
		}
		if len(r.Produces) == 0 {
			v.errf(p+".produces", "must list at least one media type, e.g. [\"application/json\"]")
		}
		for _, mt := range r.Produces {
			t, _, err := mime.ParseMediaType(mt)
			if err != nil || strings.Contains(t, "*") || !strings.Contains(t, "/") {
				v.errf(p+".produces", "%q is not a concrete media type such as \"application/json\"", mt)
			}
		}
		v.routeDates(p, r)
		if u := ups[r.Upstream]; u != nil && r.Idempotency && v.cfg.Idempotency.LockTimeout <= u.Timeout {
			v.errf("idempotency.lock_timeout", "%s must be longer than the timeout of upstream %q (%s) used by %s, so a claim outlives its request", v.cfg.Idempotency.LockTimeout.D(), u.Name, u.Timeout.D(), p)
		}
	}
}

// routeDates checks deprecation, sunset and sunset_link; the proxy reads
// the times when it builds the route.
func (v *validator) routeDates(p string, r *Route) {
	parse := func(key, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			v.errf(p+"."+key, "%q is not an RFC 3339 time; write one such as \"2027-01-31T00:00:00Z\"", s)
		}
		return t
	}
	dep, sunset := parse("deprecation", r.Deprecation), parse("sunset", r.Sunset)
	if !sunset.IsZero() && !dep.IsZero() && sunset.Before(dep) {
		v.errf(p+".sunset", "is before deprecation; a route cannot be removed before it is deprecated")
	}
	if r.SunsetLink != "" {
		if r.Sunset == "" {
			v.errf(p+".sunset_link", "needs sunset to be set (the link is sent with the Sunset header)")
		}
		if u, err := url.Parse(r.SunsetLink); err != nil || u.Scheme == "" || strings.ContainsAny(r.SunsetLink, "<>\" ") {
			v.errf(p+".sunset_link", "%q is not an absolute URL", r.SunsetLink)
		}
	}
}

// routePathProblem says what is wrong with a route path, or "" when it is
// in the gateway's normalized form (so it can match a normalized request).
func routePathProblem(path string) string {
	base, prefix := strings.CutSuffix(path, "/*")
	if prefix && base == "" {
		base = "/"
	}
	switch {
	case !strings.HasPrefix(base, "/"):
		return "must start with \"/\""
	case strings.Contains(base, "*"):
		return "may contain \"*\" only as a final \"/*\" (prefix route)"
	case strings.Contains(base, "//"):
		return "must not contain \"//\" (requests are matched after duplicate slashes are collapsed)"
	case strings.ContainsAny(base, "?#%\\ \t"):
		return "must be a plain decoded path without ?, #, %, \\ or spaces"
	}
	for _, seg := range strings.Split(base, "/") {
		if seg == "." || seg == ".." {
			return "must not contain dot segments (requests are matched after they are removed)"
		}
	}
	for _, c := range []byte(base) {
		if c < 0x21 || c > 0x7e {
			return "must be printable ASCII"
		}
	}
	return ""
}

func upstreamNames(c *Config) []string {
	out := make([]string, 0, len(c.Upstreams))
	for _, u := range c.Upstreams {
		out = append(out, u.Name)
	}
	return out
}

func policyNames(c *Config) []string {
	out := make([]string, 0, len(c.RateLimits))
	for n := range c.RateLimits {
		out = append(out, n)
	}
	return out
}

// nameHint suggests the nearest defined name, or lists them.
func nameHint(name string, names []string) string {
	if len(names) == 0 {
		return " (none is defined)"
	}
	for _, n := range names {
		if editDistance(name, n) <= 2 {
			return fmt.Sprintf("; did you mean %q?", n)
		}
	}
	return "; defined: " + quoteList(names)
}
