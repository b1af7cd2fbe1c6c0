package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is an error found while a policy package builds its runtime
// object from a section of the file, tagged with the key path it is about
// ("rate_limits.per_ip.burst", "routes[0].body_schema",
// "upstreams[1].tls_ca"). The compile step (package proxy) turns it into a
// file:line:col *Error through Config.Report.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the untagged error.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf is a *FieldError at path with a formatted message.
func FieldErrorf(path, format string, args ...any) error {
	return &FieldError{path, fmt.Errorf(format, args...)}
}

// Field tags err with path: nil stays nil, and an error that is already a
// *FieldError or *Error (or joins several) keeps its own places.
func Field(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	var pe *Error
	if errors.As(err, &fe) || errors.As(err, &pe) {
		return err
	}
	return &FieldError{path, err}
}

// Report lists the file's errors: config's own (Decode keeps them), then
// the build errors placed in the file: each *FieldError at its key
// path's file:line:col (or the nearest written parent), an *Error as it
// is (an OpenAPI document's own position), anything else at the top of the
// file. Joined errors (errors.Join) count one by one. The result is an
// *ErrorList in file order with at most MaxErrors entries, the format
// Parse uses, or nil when errs holds no error.
func (c *Config) Report(errs ...error) error {
	out := append([]*Error(nil), c.problems...)
	var walk func(err error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var pe *Error
		var fe *FieldError
		switch {
		case errors.As(err, &pe):
			out = append(out, pe)
		case errors.As(err, &fe):
			if j, ok := fe.Err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(Field(fe.Path, e))
				}
				return
			}
			if c.refused(fe.Path) {
				return // config already reported this entry
			}
			line, col := c.At(fe.Path)
			msg := fe.Err.Error()
			// A package that names the key itself is not repeated.
			if !strings.HasPrefix(msg, fe.Path+":") && !strings.HasPrefix(msg, fe.Path+" ") {
				msg = fe.Path + ": " + msg
			}
			out = append(out, &Error{c.Path, line, col, msg})
		default:
			out = append(out, &Error{c.Path, 1, 1, err.Error()})
		}
	}
	for _, err := range errs {
		walk(err)
	}
	if len(out) == 0 {
		return nil
	}
	return newErrorList(out)
}

// refused reports whether config already reported an error at path, at
// an entry that holds it, or at a key inside it: a part does not build
// what config refused, so one mistake is not reported twice.
func (c *Config) refused(path string) bool {
	for f := range c.flagged {
		if strings.HasPrefix(f, path+".") || strings.HasPrefix(f, path+"[") {
			return true
		}
	}
	for p := path; p != ""; {
		if c.flagged[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

// Closest is the candidate nearest to s by edit distance when it is close
// enough to be a typo of it, else "": for "did you mean" suggestions.
func Closest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
