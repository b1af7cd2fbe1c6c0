package config

import (
	"fmt"
	"strings"
)

// openAPI checks each [[openapi]] entry's own keys and references.
// Package openapi loads the documents and the compile step imports their
// routes (openapi.Build).
func (v *validator) openAPI(ups map[string]*Upstream) {
	for i := range v.cfg.OpenAPI {
		o := &v.cfg.OpenAPI[i]
		p := fmt.Sprintf("openapi[%d]", i)
		if o.File == "" {
			v.errf(p, "file is required, e.g. file = \"openapi.yaml\"")
		}
		switch {
		case o.Upstream == "":
			v.errf(p, "upstream is required, e.g. upstream = \"api\"")
		case ups[o.Upstream] == nil:
			v.errf(p+".upstream", "%q is not the name of any [[upstreams]]%s", o.Upstream, nameHint(o.Upstream, upstreamNames(v.cfg)))
		}
		if o.PathPrefix != "" && (!strings.HasPrefix(o.PathPrefix, "/") || strings.HasSuffix(o.PathPrefix, "/") || routePathProblem(o.PathPrefix) != "") {
			v.errf(p+".path_prefix", "%q must be a plain path that starts with \"/\" and does not end with one, e.g. \"/v1\"", o.PathPrefix)
		}
		for _, name := range o.RateLimits {
			if _, exists := v.cfg.RateLimits[name]; !exists {
				v.errf(p+".rate_limits", "%q is not a [rate_limits.*] policy%s", name, nameHint(name, policyNames(v.cfg)))
			}
		}
		for _, w := range o.Validate {
			if w != "body" && w != "parameters" {
				v.errf(p+".validate", "%q is not allowed; write a list of \"body\" and \"parameters\", or []", w)
			}
		}
		if u := ups[o.Upstream]; u != nil && o.Idempotency && v.cfg.Idempotency.LockTimeout <= u.Timeout {
			v.errf("idempotency.lock_timeout", "%s must be longer than the timeout of upstream %q (%s) used by %s", v.cfg.Idempotency.LockTimeout.D(), u.Name, u.Timeout.D(), p)
		}
	}
}
