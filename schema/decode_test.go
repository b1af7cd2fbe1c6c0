package schema

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzDecode checks decode against encoding/json's own validator, and the
// two duplicate-name detectors against each other.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","items":[{"name":"y"}]}`, `{"a":1,"a":2}`, `{"a":"x:y"}`, `{"a\"":1,"a":2}`,
		`{} {}`, `123abc`, ``, ` `, "\"\xff\"", `[1,2`, `{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`,
		`1e999`, `"\u0000"`, `{"\\":1,"\\\\":2}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decode(body)
		wellFormed := json.Valid(body) && utf8.Valid(body)
		if err == nil {
			if !wellFormed {
				t.Fatalf("decode accepted %q, which json.Valid refuses", body)
			}
			if duplicateOffset(body) != 0 {
				t.Fatalf("decode accepted %q, which repeats a member name", body)
			}
			_ = v
			return
		}
		var se *SyntaxError
		if !errors.As(err, &se) || !errors.Is(err, ErrMalformedJSON) {
			t.Fatalf("decode(%q) = %v, not a *SyntaxError", body, err)
		}
		if se.Offset < 0 || se.Offset > int64(len(body)) {
			t.Fatalf("decode(%q): offset %d out of range", body, se.Offset)
		}
		if wellFormed {
			if se.Reason != reasonDuplicate || duplicateOffset(body) == 0 {
				t.Fatalf("decode refused well-formed %q: %v", body, err)
			}
		}
	})
}
