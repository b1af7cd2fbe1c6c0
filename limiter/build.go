package limiter

import (
	"errors"
	"sort"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build turns the [rate_limits.*] tables into their policies, by name.
// It checks every table and returns every error, each a
// *config.FieldError on the key at fault ("rate_limits.per_ip.burst"), so
// the compile step can point at file:line:col.
func Build(sec map[string]config.RateLimit) (map[string]*Policy, error) {
	names := make([]string, 0, len(sec))
	for name := range sec {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]*Policy, len(sec))
	var errs []error
	for _, name := range names {
		rl := sec[name]
		p, err := NewPolicy(name, rl.Key, rl.Rate, rl.Burst, rl.LegacyHeaders)
		if err != nil {
			at := "rate_limits." + name
			var fe *FieldError
			if errors.As(err, &fe) && fe.Field != "" {
				at += "." + fe.Field
			}
			errs = append(errs, config.Field(at, err))
			continue
		}
		out[name] = p
	}
	return out, errors.Join(errs...)
}

// CheckRoute checks the rate_limits list of the entry at path (a route or
// an [[openapi]] import): at most MaxRoutePolicies names.
func CheckRoute(path string, names []string) error {
	if len(names) > MaxRoutePolicies {
		return config.FieldErrorf(path+".rate_limits", "lists %d policies; a route may have at most %d", len(names), MaxRoutePolicies)
	}
	return nil
}
