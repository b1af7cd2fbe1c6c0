package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Error is a config error at a place in the file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes and validates data; path names the file in errors and
// anchors relative paths.
func Parse(data []byte, path string) (*Config, error) {
	cfg := Defaults()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, decodeError(path, err)
	}
	// The decoder has accepted the syntax, so the index cannot fail.
	ix, err := buildIndex(data)
	if err != nil {
		return nil, &Error{path, 1, 1, "TOML syntax: " + err.Error()}
	}
	cfg.Path = path
	cfg.Dir = filepath.Dir(path)
	expandEnv(reflect.ValueOf(&cfg).Elem())
	applyDefaults(&cfg, ix)
	v := validator{cfg: &cfg, ix: ix, file: path}
	v.validate()
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return &cfg, nil
}

func decodeError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var all []error
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, col := de.Position()
			key := []string(de.Key())
			all = append(all, &Error{path, line, col, unknownKeyMsg(key)})
		}
		return errors.Join(all...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			msg = fmt.Sprintf("%s: %s", strings.Join(k, "."), msg)
		}
		return &Error{path, line, col, msg}
	}
	return &Error{path, 1, 1, err.Error()}
}

// unknownKeyMsg says which key is unknown and what may be written there,
// with the closest allowed name first when one is near.
func unknownKeyMsg(key []string) string {
	allowed := allowedKeys(key[:len(key)-1])
	name := key[len(key)-1]
	where := "at the top level"
	if len(key) > 1 {
		where = "in [" + strings.Join(key[:len(key)-1], ".") + "]"
	}
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
	if best != "" {
		return fmt.Sprintf("%s; did you mean %q? (allowed: %s)", msg, best, strings.Join(allowed, ", "))
	}
	return fmt.Sprintf("%s; allowed: %s", msg, strings.Join(allowed, ", "))
}

// allowedKeys lists the toml names of the struct at the given key path.
func allowedKeys(parent []string) []string {
	t := reflect.TypeOf(Config{})
	for _, p := range parent {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Pointer {
			if t.Kind() == reflect.Map {
				t = t.Elem()
				goto next // a map level consumes one key part (the policy name)
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		{
			f, ok := fieldByTag(t, p)
			if !ok {
				return nil
			}
			t = f.Type
		}
	next:
	}
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("toml") == tag {
			return t.Field(i), true
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

// expandEnv replaces ${NAME} in every string value with the environment
// variable NAME (empty when unset). Only the braced form is expanded, so a
// literal '$' in a password or URL stays as written.
func expandEnv(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() && strings.Contains(v.String(), "${") {
			v.SetString(ExpandEnv(v.String()))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				expandEnv(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			expandEnv(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			expandEnv(e)
			v.SetMapIndex(k, e)
		}
	}
}

// ExpandEnv expands ${NAME} references in s.
func ExpandEnv(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 || !validEnvName(s[i+2:i+j]) {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(os.Getenv(s[i+2 : i+j]))
		s = s[i+j+1:]
	}
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
