package schema

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build compiles the body_schema of each [[routes]] entry (relative names
// resolve against dir, the config's folder). It returns the schemas by
// entry index (nil without body_schema) and every error, each a
// *config.FieldError on "routes[i].body_schema".
func Build(routes []config.Route, dir string) ([]*Schema, error) {
	out := make([]*Schema, len(routes))
	var errs []error
	for i := range routes {
		name := routes[i].BodySchema
		if name == "" {
			continue
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		sch, err := Compile(name)
		if err != nil {
			errs = append(errs, config.Field(fmt.Sprintf("routes[%d].body_schema", i), err))
			continue
		}
		out[i] = sch
	}
	return out, errors.Join(errs...)
}
