package proxy

import (
	"errors"
	"fmt"
	"time"

	"github.com/cobaltgw/cobaltgw/auth"
	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/limiter"
	"github.com/cobaltgw/cobaltgw/openapi"
	"github.com/cobaltgw/cobaltgw/router"
	"github.com/cobaltgw/cobaltgw/schema"
)

// routeSpec is one route as the parts built it, before compileRoute: its
// data, and what packages schema and openapi made of it.
type routeSpec struct {
	cfg          config.Route
	source       string // "file#/paths/…" for a route imported from OpenAPI
	schema       *schema.Schema
	params       *openapi.Params
	bodyRequired bool // an imported operation whose document requires a body
	deprecateAt  time.Time
	sunsetAt     time.Time
	// ops are the per-method routes of a route imported from OpenAPI.
	ops map[string]*routeSpec
}

// buildRoutes builds the [[routes]] entries (their patterns by package
// router, body schemas by package schema, scopes by package auth, the
// number of policies by package limiter) and imports the routes of the
// [[openapi]] documents (package openapi). A [[routes]] entry with the
// same path (or the same template shape) replaces an imported route; two
// documents that import the same path are an error.
func (p *parts) buildRoutes(cfg *config.Config) error {
	var errs []error
	patterns, err := router.Build(cfg.Routes)
	errs = append(errs, err)
	schemas, err := schema.Build(cfg.Routes, cfg.Dir)
	errs = append(errs, err)
	own := map[string]bool{}
	for i := range cfg.Routes {
		rc := cfg.Routes[i]
		at := fmt.Sprintf("routes[%d]", i)
		errs = append(errs, auth.CheckScopes(at, rc.Scopes), limiter.CheckRoute(at, rc.RateLimits))
		if patterns[i].Path != "" {
			own[patterns[i].Shape()] = true
		}
		spec := &routeSpec{cfg: rc, schema: schemas[i]}
		// config has checked the spelling of both times.
		spec.deprecateAt, _ = parseTime(rc.Deprecation)
		spec.sunsetAt, _ = parseTime(rc.Sunset)
		p.routes = append(p.routes, spec)
	}
	docs, err := openapi.Build(cfg.OpenAPI, cfg.Dir, time.Now())
	errs = append(errs, err)
	imported := map[string]string{}
	for i, doc := range docs {
		if doc == nil {
			continue
		}
		o := &cfg.OpenAPI[i]
		at := fmt.Sprintf("openapi[%d]", i)
		errs = append(errs, limiter.CheckRoute(at, o.RateLimits))
		p.files = append(p.files, doc.Files...)
		for _, r := range doc.Routes {
			p.warnings = append(p.warnings, r.Warnings...)
			pat, err := router.Parse(r.Path)
			if err != nil {
				errs = append(errs, config.FieldErrorf(at+".file", "path %q %v", r.Path, err))
				continue
			}
			if own[pat.Shape()] {
				continue // a [[routes]] entry replaces it
			}
			if prev, dup := imported[pat.Shape()]; dup {
				errs = append(errs, config.FieldErrorf(at+".file", "path %q is also imported from %s; give one document a path_prefix", r.Path, prev))
				continue
			}
			imported[pat.Shape()] = o.File
			spec, err := importedRoute(at, o, r)
			errs = append(errs, err)
			p.routes = append(p.routes, spec)
		}
	}
	return errors.Join(errs...)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, s)
}

// importedRoute is the route of one path item: the methods of its
// operations, and per method a route with that operation's rules.
func importedRoute(at string, o *config.OpenAPI, r openapi.Route) (*routeSpec, error) {
	var errs []error
	base := config.RouteDefaults()
	base.Path, base.Upstream = r.Path, o.Upstream
	base.RateLimits, base.Idempotency = o.RateLimits, o.Idempotency
	spec := &routeSpec{source: o.File + "#" + r.Pointer, ops: map[string]*routeSpec{}}
	for _, op := range r.Operations {
		base.Methods = append(base.Methods, op.Method)
	}
	for _, op := range r.Operations {
		m := base
		m.Auth, m.Scopes = op.Auth, op.Scopes
		for _, sc := range op.Scopes {
			if !auth.ValidScope(sc) {
				errs = append(errs, config.FieldErrorf(at+".file", "%s %s: %q is not a scope the gateway can check (RFC 6749 §3.3)", op.Method, r.Path, sc))
			}
		}
		m.Produces = op.Produces
		ms := &routeSpec{source: spec.source, schema: op.Body, bodyRequired: op.BodyRequired, params: op.Params}
		if op.Deprecated {
			ms.deprecateAt, ms.sunsetAt = op.DeprecationAt, op.SunsetAt
			m.Deprecation = op.DeprecationAt.Format(time.RFC3339)
			if !op.SunsetAt.IsZero() {
				m.Sunset = op.SunsetAt.Format(time.RFC3339)
			}
		}
		ms.cfg = m
		spec.ops[op.Method] = ms
	}
	// The path-level route answers what no operation owns (405, OPTIONS).
	base.Produces = []string{"application/json"}
	if len(r.Operations) > 0 {
		base.Produces = r.Operations[0].Produces
	}
	spec.cfg = base
	return spec, errors.Join(errs...)
}

// RouteInfo describes one compiled route, for `cobaltgw routes`.
type RouteInfo struct {
	config.Route // its keys; for an imported route, as its document gives them
	// Source is "file#/paths/…" for a route imported from OpenAPI.
	Source string
	// Body: request bodies are validated; BodyRequired: a missing one is
	// a 422; Params: declared parameters are validated.
	Body, BodyRequired, Params bool
	DeprecationAt, SunsetAt    time.Time
	// Operations are an imported route's per-method rules.
	Operations map[string]*RouteInfo
}

// Routes lists the compiled routes: the [[routes]] entries, then the
// imported ones.
func (c *Compiled) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(c.rt.specs))
	for _, s := range c.rt.specs {
		out = append(out, s.info())
	}
	return out
}

func (s *routeSpec) info() RouteInfo {
	ri := RouteInfo{Route: s.cfg, Source: s.source, Body: s.schema != nil, BodyRequired: s.bodyRequired,
		Params: s.params != nil, DeprecationAt: s.deprecateAt, SunsetAt: s.sunsetAt}
	if len(s.ops) > 0 {
		ri.Operations = map[string]*RouteInfo{}
		for m, op := range s.ops {
			oi := op.info()
			ri.Operations[m] = &oi
		}
	}
	return ri
}
