package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// Error is a config error at a place in the file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// MaxErrors is how many errors one run reports; the rest are counted.
const MaxErrors = 20

// ErrorList is every error one load found, in file order, at most
// MaxErrors of them; Omitted counts the ones left out.
type ErrorList struct {
	Errs    []*Error
	Omitted int
}

// newErrorList sorts errs into file order (stable, so errors at one place
// keep the order they were found in) and keeps the first MaxErrors.
func newErrorList(errs []*Error) *ErrorList {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	l := &ErrorList{Errs: errs}
	if len(errs) > MaxErrors {
		l.Errs, l.Omitted = errs[:MaxErrors], len(errs)-MaxErrors
	}
	return l
}

// Error is one line per error.
func (l *ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	if l.Omitted > 0 {
		fmt.Fprintf(&b, "\n(and %d more errors; fix these first)", l.Omitted)
	}
	return b.String()
}

// Unwrap gives errors.As and errors.Is each *Error.
func (l *ErrorList) Unwrap() []error {
	out := make([]error, len(l.Errs))
	for i, e := range l.Errs {
		out[i] = e
	}
	return out
}

// Load reads, decodes and checks the file at path: its syntax and the
// rules of config itself (types, required keys, value ranges, references
// between sections). What each part checks while it builds its runtime
// object (schemas, certificates, policies) is proxy.Compile's; use
// ReadFile and proxy.Compile to get both in one list.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path)
}

// ReadFile reads and decodes the file at path like Decode.
func ReadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Decode(data, path)
}

// Parse decodes and checks data; path names the file in errors and
// anchors relative paths. Environment references expand from the process
// environment. The error, if any, is an *ErrorList.
func Parse(data []byte, path string) (*Config, error) {
	return parse(data, path, os.LookupEnv)
}

func parse(data []byte, path string, env func(string) (string, bool)) (*Config, error) {
	cfg, err := decode(data, path, env)
	if err != nil {
		return nil, err
	}
	if len(cfg.problems) > 0 {
		return nil, newErrorList(cfg.problems)
	}
	return cfg, nil
}

// Decode decodes and checks data as Parse does, but a file that is valid
// TOML is returned even when it breaks config's rules: its errors stay on
// the Config (Problems), so the compile step can add what each part finds
// when it builds, and report every error of the file at once
// (Config.Report). The error is an *ErrorList for a TOML syntax error
// only.
func Decode(data []byte, path string) (*Config, error) {
	return decode(data, path, os.LookupEnv)
}

func decode(data []byte, path string, env func(string) (string, bool)) (*Config, error) {
	tree, serr := decodeTree(data, path)
	if serr != nil {
		return nil, newErrorList([]*Error{serr.(*Error)})
	}
	// go-toml has accepted the syntax, so the index cannot fail.
	ix, err := buildIndex(data)
	if err != nil {
		return nil, newErrorList([]*Error{{path, 1, 1, "TOML syntax: " + err.Error()}})
	}
	cfg := Defaults()
	d := &decoder{file: path, ix: ix, bad: map[string]bool{}, env: env}
	d.table(reflect.ValueOf(&cfg).Elem(), tree, "")
	cfg.Path = path
	cfg.Dir = filepath.Dir(path)
	cfg.ix = ix
	if !ix.has("store.redis_password") {
		// The default "${REDIS_PASSWORD}" is optional: unset means none.
		cfg.Store.RedisPassword, _ = env("REDIS_PASSWORD")
	}
	applyDefaults(&cfg, ix)
	v := validator{cfg: &cfg, ix: ix, file: path, bad: d.bad, flagged: map[string]bool{}}
	v.validate()
	cfg.problems = append(d.errs, v.errs...)
	cfg.flagged = v.flagged
	for p := range d.bad {
		cfg.flagged[p] = true
	}
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		cfg.Warnings = append(cfg.Warnings, "the file is empty: every default applies, and with no [[routes]] every request is answered 404 not_found")
	case len(cfg.Routes) == 0:
		cfg.Warnings = append(cfg.Warnings, "no [[routes]]: every request is answered 404 not_found")
	}
	return &cfg, nil
}

// Problems reports whether the file breaks config's own rules (Decode
// kept the errors; Config.Report lists them).
func (c *Config) Problems() bool { return len(c.problems) > 0 }

// At returns the place in the file where the key path is written
// ("upstreams[0].timeout", "rate_limits.per_ip.burst"), or the nearest
// written parent, for errors found after loading.
func (c *Config) At(path string) (line, col int) {
	if c.ix == nil {
		return 1, 1
	}
	p := c.ix.nearest(path)
	return p.line, p.col
}

// Errorf is an *Error at the place of the key path, its message prefixed
// with the path.
func (c *Config) Errorf(path, format string, args ...any) *Error {
	line, col := c.At(path)
	return &Error{c.Path, line, col, path + ": " + fmt.Sprintf(format, args...)}
}

// unknownKeyMsg says which key is unknown in the table of struct type t
// at path, and what may be written there, the closest name first.
func unknownKeyMsg(t reflect.Type, path, name string) string {
	where := "at the top level"
	switch {
	case strings.Contains(path, "["):
		where = "in " + path
	case path != "":
		where = "in [" + path + "]"
	}
	var allowed []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			allowed = append(allowed, tag)
		}
	}
	sort.Strings(allowed)
	msg := fmt.Sprintf("unknown key %q %s", name, where)
	if len(allowed) == 0 {
		return msg
	}
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(name, a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" && len(name) >= 3 {
		for _, a := range allowed {
			if strings.HasPrefix(a, name) {
				best = a
				break
			}
		}
	}
	if best != "" {
		return fmt.Sprintf("%s; did you mean %q? (allowed: %s)", msg, best, strings.Join(allowed, ", "))
	}
	return fmt.Sprintf("%s; allowed: %s", msg, strings.Join(allowed, ", "))
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("toml") == tag && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
