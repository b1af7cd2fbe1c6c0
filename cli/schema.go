package cli

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/cobaltgw/cobaltgw/config"
)

// ConfigSchema is a JSON Schema (2020-12) of config.toml, made by
// reflection from package config's types (their `toml` tags name the
// keys), so it follows the config as it changes. Defaults come from
// config.Defaults; a type with an EnumValues method lists its values;
// unknown keys are refused, as the decoder refuses them.
func ConfigSchema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "toml",
		RequiredFromJSONSchemaTags: true, // nothing is required by the schema alone
		DoNotReference:             true,
		Mapper:                     mapType,
	}
	s := r.Reflect(&config.Config{})
	s.ID = "https://github.com/cobaltgw/cobaltgw/config.schema.json"
	s.Title = "cobaltgw config.toml"
	s.Description = "The gateway's configuration; see docs/configuration.md."
	addDefaults(s, reflect.ValueOf(config.Defaults()))
	return json.MarshalIndent(s, "", "  ")
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	enumer          = reflect.TypeFor[interface{ EnumValues() []string }]()
)

// mapType gives the schema of the config's own value types.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == reflect.TypeFor[config.Size]():
		return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
			{Type: "integer", Minimum: "0", Description: "bytes"},
			{Type: "string", Pattern: `^\s*[0-9_]+\s*([KMG]i?B|[KMGkmg]|[Bb])?\s*$`, Description: `a size with a unit, e.g. "16KiB", "1MiB"`},
		}}
	case t == reflect.TypeFor[config.Duration]():
		return &jsonschema.Schema{Type: "string", Pattern: `^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$`, Description: `a duration with a unit, e.g. "250ms", "30s", "24h"`}
	case t.Implements(enumer):
		vals := reflect.Zero(t).Interface().(interface{ EnumValues() []string }).EnumValues()
		s := &jsonschema.Schema{Type: "string"}
		for _, v := range vals {
			s.Enum = append(s.Enum, v)
		}
		return s
	case t.Kind() != reflect.Struct && reflect.PointerTo(t).Implements(textUnmarshaler):
		return &jsonschema.Schema{Type: "string"}
	}
	return nil
}

// addDefaults sets `default` on each property from the matching field of
// def (the Defaults of the section).
func addDefaults(s *jsonschema.Schema, def reflect.Value) {
	if s == nil || s.Properties == nil || def.Kind() != reflect.Struct {
		return
	}
	t := def.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p, ok := s.Properties.Get(name)
		if !ok {
			continue
		}
		f := def.Field(i)
		if f.Kind() == reflect.Struct {
			addDefaults(p, f)
			continue
		}
		if v, ok := defaultValue(f); ok {
			p.Default = v
		}
	}
}

// defaultValue is f as it is written in TOML, or false for a zero map or
// slice (no useful default to show).
func defaultValue(f reflect.Value) (any, bool) {
	if (f.Kind() == reflect.Map || f.Kind() == reflect.Slice || f.Kind() == reflect.Pointer) && f.IsNil() {
		return nil, false
	}
	if m, ok := f.Interface().(encoding.TextMarshaler); ok && f.Kind() != reflect.Int64 {
		b, err := m.MarshalText()
		return string(b), err == nil
	}
	if f.Type() == reflect.TypeFor[config.Duration]() {
		b, _ := f.Interface().(config.Duration).MarshalText()
		return string(b), true
	}
	return f.Interface(), true
}
