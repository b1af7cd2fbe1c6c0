package router

import (
	"errors"
	"fmt"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build checks the paths of the [[routes]] entries as patterns: each
// template parses, and no two routes match the same requests. It returns
// the patterns by entry index (the zero Pattern for an entry with no
// usable path) and every error, each a *config.FieldError on
// "routes[i].path".
func Build(routes []config.Route) ([]Pattern, error) {
	out := make([]Pattern, len(routes))
	seen := map[string]int{}
	var errs []error
	for i := range routes {
		r := &routes[i]
		if r.Path == "" {
			continue // config requires it
		}
		at := fmt.Sprintf("routes[%d].path", i)
		pat, err := Parse(r.Path)
		if err != nil {
			errs = append(errs, config.FieldErrorf(at, "%q %v", r.Path, err))
			continue
		}
		shape := pat.Shape()
		if j, dup := seen[shape]; dup {
			if routes[j].Path == r.Path {
				errs = append(errs, config.FieldErrorf(at, "%q is already the path of routes[%d]; each path may appear once", r.Path, j))
			} else {
				errs = append(errs, config.FieldErrorf(at, "%q matches the same requests as %q (routes[%d]); each path may appear once", r.Path, routes[j].Path, j))
			}
			continue
		}
		seen[shape] = i
		out[i] = pat
	}
	return out, errors.Join(errs...)
}
