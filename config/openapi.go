package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/openapi"
	"github.com/cobaltgw/cobaltgw/router"
)

// openAPI checks each [[openapi]] entry, loads its document and appends
// one route per path item to cfg.Routes. A [[routes]] entry with the same
// path (or the same template shape) replaces the imported route; two
// documents that import the same path are an error.
func (v *validator) openAPI(ups map[string]*Upstream) {
	if len(v.cfg.OpenAPI) == 0 {
		return
	}
	own := map[string]bool{}
	for _, r := range v.cfg.Routes {
		if p, err := router.Parse(r.Path); err == nil {
			own[p.Shape()] = true
		}
	}
	imported := map[string]string{}
	now := time.Now()
	for i := range v.cfg.OpenAPI {
		o := &v.cfg.OpenAPI[i]
		p := fmt.Sprintf("openapi[%d]", i)
		ok := true
		if o.File == "" {
			v.errf(p, "file is required, e.g. file = \"openapi.yaml\"")
			ok = false
		}
		switch {
		case o.Upstream == "":
			v.errf(p, "upstream is required, e.g. upstream = \"api\"")
			ok = false
		case ups[o.Upstream] == nil:
			v.errf(p+".upstream", "%q is not the name of any [[upstreams]]%s", o.Upstream, nameHint(o.Upstream, upstreamNames(v.cfg)))
			ok = false
		}
		if o.PathPrefix != "" && (!strings.HasPrefix(o.PathPrefix, "/") || strings.HasSuffix(o.PathPrefix, "/") || routePathProblem(o.PathPrefix) != "") {
			v.errf(p+".path_prefix", "%q must be a plain path that starts with \"/\" and does not end with one, e.g. \"/v1\"", o.PathPrefix)
			ok = false
		}
		authMode := string(o.Auth)
		if authMode == "" {
			authMode = string(OpenAPIAuthFromSpec)
		}
		if len(o.RateLimits) > limiter.MaxRoutePolicies {
			v.errf(p+".rate_limits", "lists %d policies; a route may have at most %d", len(o.RateLimits), limiter.MaxRoutePolicies)
		}
		for _, name := range o.RateLimits {
			if _, exists := v.cfg.RateLimits[name]; !exists {
				v.errf(p+".rate_limits", "%q is not a [rate_limits.*] policy%s", name, nameHint(name, policyNames(v.cfg)))
				ok = false
			}
		}
		var body, params bool
		for _, w := range o.Validate {
			switch w {
			case "body":
				body = true
			case "parameters":
				params = true
			default:
				v.errf(p+".validate", "%q is not allowed; write a list of \"body\" and \"parameters\", or []", w)
				ok = false
			}
		}
		if !ok {
			continue
		}
		if u := ups[o.Upstream]; o.Idempotency && v.cfg.Idempotency.LockTimeout <= u.Timeout {
			v.errf("idempotency.lock_timeout", "%s must be longer than the timeout of upstream %q (%s) used by %s", v.cfg.Idempotency.LockTimeout.D(), u.Name, u.Timeout.D(), p)
		}
		path := o.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(v.cfg.Dir, path)
		}
		doc, err := openapi.Load(openapi.Spec{File: path, Path: path, PathPrefix: o.PathPrefix, Auth: authMode, Body: body, Params: params, Now: now})
		if err != nil {
			var oe *openapi.Error
			if errors.As(err, &oe) {
				// The document's own position: its file, line and pointer.
				v.errs = append(v.errs, &Error{oe.File, oe.Line, oe.Col, fmt.Sprintf("%s.file: %s", p, strings.TrimPrefix(oe.Error(), fmt.Sprintf("%s:%d:%d: ", oe.File, oe.Line, oe.Col)))})
			} else {
				v.errf(p+".file", "%v", err)
			}
			continue
		}
		o.Files = doc.Files
		for _, r := range doc.Routes {
			v.cfg.Warnings = append(v.cfg.Warnings, r.Warnings...)
			pat, _ := router.Parse(r.Path)
			if own[pat.Shape()] {
				continue // a [[routes]] entry replaces it
			}
			if prev, dup := imported[pat.Shape()]; dup {
				v.errf(p+".file", "path %q is also imported from %s; give one document a path_prefix", r.Path, prev)
				continue
			}
			imported[pat.Shape()] = o.File
			v.cfg.Routes = append(v.cfg.Routes, v.importedRoute(p, o, path, r))
		}
	}
}

// importedRoute is the route of one path item: the methods of its
// operations, and per method a Route with that operation's rules.
func (v *validator) importedRoute(p string, o *OpenAPI, file string, r openapi.Route) Route {
	base := routeDefaults()
	base.Path, base.Upstream = r.Path, o.Upstream
	base.RateLimits, base.Idempotency = o.RateLimits, o.Idempotency
	base.Source = o.File + "#" + r.Pointer
	base.Operations = map[string]*Route{}
	for _, op := range r.Operations {
		base.Methods = append(base.Methods, op.Method)
		m := base
		m.Operations = nil
		m.Auth, m.Scopes = op.Auth, op.Scopes
		for _, sc := range op.Scopes {
			if !auth.ValidScope(sc) {
				v.errf(p+".file", "%s %s: %q is not a scope the gateway can check (RFC 6749 §3.3)", op.Method, r.Path, sc)
			}
		}
		m.Produces = op.Produces
		m.Schema, m.BodyRequired, m.Params = op.Body, op.BodyRequired, op.Params
		if op.Deprecated {
			m.DeprecationAt, m.SunsetAt = op.DeprecationAt, op.SunsetAt
			m.Deprecation = op.DeprecationAt.Format(time.RFC3339)
			if !op.SunsetAt.IsZero() {
				m.Sunset = op.SunsetAt.Format(time.RFC3339)
			}
		}
		base.Operations[op.Method] = &m
	}
	// The path-level route answers what no operation owns (405, OPTIONS).
	base.Produces = []string{"application/json"}
	if len(r.Operations) > 0 {
		base.Produces = r.Operations[0].Produces
	}
	return base
}
