package openapi

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/cobaltgw/cobaltgw/config"
)

// Build loads the document of each [[openapi]] entry (relative file names
// resolve against dir, the config's folder) as of now. It returns the
// documents by entry index (nil for an entry that failed) and every
// error: an error inside a document is a *config.Error at the document's
// own file, line and column; others are *config.FieldError on
// "openapi[i].file".
func Build(sec []config.OpenAPI, dir string, now time.Time) ([]*Document, error) {
	out := make([]*Document, len(sec))
	var errs []error
	for i := range sec {
		o := &sec[i]
		if o.File == "" {
			continue // config requires it
		}
		p := fmt.Sprintf("openapi[%d]", i)
		authMode := string(o.Auth)
		if authMode == "" {
			authMode = string(config.OpenAPIAuthFromSpec)
		}
		var body, params bool
		for _, w := range o.Validate {
			body = body || w == "body"
			params = params || w == "parameters"
		}
		path := o.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		doc, err := Load(Spec{File: o.File, Path: path, PathPrefix: o.PathPrefix, Auth: authMode, Body: body, Params: params, Now: now})
		if err != nil {
			var oe *Error
			if errors.As(err, &oe) {
				// The document's own position: its file, line and pointer.
				errs = append(errs, &config.Error{File: oe.File, Line: oe.Line, Col: oe.Col,
					Msg: fmt.Sprintf("%s.file: %s", p, strings.TrimPrefix(oe.Error(), fmt.Sprintf("%s:%d:%d: ", oe.File, oe.Line, oe.Col)))})
			} else {
				errs = append(errs, config.Field(p+".file", err))
			}
			continue
		}
		out[i] = doc
	}
	return out, errors.Join(errs...)
}
