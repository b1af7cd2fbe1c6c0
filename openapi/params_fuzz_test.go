package openapi

import (
	"encoding/json"
	"testing"
)

// FuzzCoerce: a parameter's text becomes a JSON number only when it is
// one, a boolean only when it is "true" or "false"; anything else stays
// the string it was, so the schema reports it.
func FuzzCoerce(f *testing.F) {
	for _, s := range []string{"5", "-1.5e3", "0x10", "1_000", " 5", "NaN", "Inf", "true", "", "abc"} {
		f.Add("integer", s)
		f.Add("boolean", s)
	}
	f.Fuzz(func(t *testing.T, typ, s string) {
		switch v := coerce(typ, s).(type) {
		case json.Number:
			if !json.Valid([]byte(s)) || string(v) != s {
				t.Fatalf("%q became the number %q", s, v)
			}
		case bool:
			if s != "true" && s != "false" {
				t.Fatalf("%q became a boolean", s)
			}
		case string:
			if v != s {
				t.Fatalf("%q became %q", s, v)
			}
		}
	})
}
