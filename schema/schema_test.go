package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testSchema = `{
  "type": "object",
  "required": ["name", "items"],
  "properties": {
    "name":  {"type": "string", "minLength": 1},
    "count": {"type": "number", "maximum": 100},
    "a/b~c": {"type": "string"},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}}
      }
    }
  }
}`

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustCompile(t testing.TB, content string) *Schema {
	t.Helper()
	s, err := Compile(writeFile(t, t.TempDir(), "body.schema.json", content))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidate(t *testing.T) {
	s := mustCompile(t, testSchema)
	tests := []struct {
		name string
		body string
		want []Violation
	}{
		{"valid body", `{"name":"x","items":[{"name":"y"}],"count":3}`, nil},
		{"valid body with surrounding whitespace", " \r\n\t{\"name\":\"x\",\"items\":[]}\n", nil},
		{"required property missing: pointer is the object", `{"items":[]}`,
			[]Violation{{"", "missing property 'name'"}}},
		{"wrong type", `{"name":1,"items":[]}`,
			[]Violation{{"/name", "got number, want string"}}},
		{"nested pointer into an array", `{"name":"x","items":[{"name":"ok"},{"name":5}]}`,
			[]Violation{{"/items/1/name", "got number, want string"}}},
		{"nested required", `{"name":"x","items":[{}]}`,
			[]Violation{{"/items/0", "missing property 'name'"}}},
		{"pointer escapes ~ and / (RFC 6901 §3)", `{"name":"x","items":[],"a/b~c":1}`,
			[]Violation{{"/a~1b~0c", "got number, want string"}}},
		{"root of the wrong type", `[1]`,
			[]Violation{{"", "got array, want object"}}},
		{"numbers keep their precision", `{"name":"x","items":[],"count":100.00000000000000000001}`,
			[]Violation{{"/count", "maximum: got 100.00000000000000000001, want 100"}}},
		{"several violations sorted by pointer", `{"name":"","items":[{"name":1}],"count":"many"}`,
			[]Violation{
				{"/count", "got string, want number"},
				{"/items/0/name", "got number, want string"},
				{"/name", "minLength: got 0, want 1"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Validate([]byte(tt.body))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Validate(%s)\n got %q\nwant %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestValidateCapsAndOrdersViolations(t *testing.T) {
	s := mustCompile(t, testSchema)
	var items []string
	for i := 0; i < 30; i++ {
		items = append(items, `{"name":false}`)
	}
	body := []byte(`{"name":"x","items":[` + strings.Join(items, ",") + `]}`)
	first, err := s.Validate(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != MaxViolations {
		t.Fatalf("got %d violations, want %d", len(first), MaxViolations)
	}
	for i, v := range first {
		// Array indexes sort numerically: /items/0 … /items/19, not /items/10 after /items/1.
		if want := fmt.Sprintf("/items/%d/name", i); v.Pointer != want {
			t.Fatalf("violation %d at %q, want %q", i, v.Pointer, want)
		}
	}
	for range 20 {
		again, _ := s.Validate(body)
		if !reflect.DeepEqual(again, first) {
			t.Fatal("violations differ between runs")
		}
	}
}

func TestValidateOrderIsDeterministicAcrossObjectMembers(t *testing.T) {
	// Properties are walked from a map by the library; the output must not
	// follow that order.
	var props, members []string
	for i := 0; i < 15; i++ {
		props = append(props, fmt.Sprintf(`"p%02d":{"type":"string"}`, i))
		members = append(members, fmt.Sprintf(`"p%02d":%d`, i, i))
	}
	s := mustCompile(t, `{"properties":{`+strings.Join(props, ",")+`}}`)
	body := []byte(`{` + strings.Join(members, ",") + `}`)
	first, err := s.Validate(body)
	if err != nil || len(first) != 15 || first[0].Pointer != "/p00" || first[14].Pointer != "/p14" {
		t.Fatalf("got %q, %v", first, err)
	}
	for range 20 {
		if again, _ := s.Validate(body); !reflect.DeepEqual(again, first) {
			t.Fatal("violations differ between runs")
		}
	}
}

func TestValidateDeduplicatesBranchMessages(t *testing.T) {
	s := mustCompile(t, `{"allOf":[{"type":"string"},{"type":"string"}]}`)
	got, err := s.Validate([]byte(`1`))
	if err != nil || len(got) != 1 || got[0].Pointer != "" {
		t.Fatalf("got %q, %v; want one root violation", got, err)
	}
}

func TestValidateFalseSchema(t *testing.T) {
	s := mustCompile(t, `false`)
	got, err := s.Validate([]byte(`{}`))
	if err != nil || len(got) != 1 || got[0].Message != "false schema" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestValidateMessagesNameNoFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "defs.json", `{"$defs":{"n":{"type":"integer"}}}`)
	p := writeFile(t, dir, "body.json", `{"properties":{"n":{"$ref":"defs.json#/$defs/n"}},"not":{"required":["x"]}}`)
	s, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Validate([]byte(`{"n":"a","x":1}`))
	if err != nil || len(got) != 2 {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, v := range got {
		if strings.Contains(v.Message, dir) || strings.Contains(v.Message, "file:") {
			t.Fatalf("message %q reveals the schema's location", v.Message)
		}
	}
}

func TestValidateMalformedJSON(t *testing.T) {
	s := mustCompile(t, testSchema)
	tests := []struct {
		name   string
		body   string
		offset int64
		reason string
	}{
		{"empty body", ``, 0, reasonEmpty},
		{"whitespace only", " \n\t", 0, reasonEmpty},
		{"syntax error", `{"name" "x"}`, 8, reasonSyntax},
		{"syntax error at the first byte", `x`, 0, reasonSyntax},
		{"truncated object", `{"name":`, 8, reasonTruncated},
		{"truncated literal", `tru`, 3, reasonTruncated},
		{"trailing garbage after the value", `{"name":"x","items":[]}garbage`, 23, reasonTrailing},
		{"trailing garbage after whitespace", "{} \n x", 5, reasonTrailing},
		{"a second value", `{} {}`, 3, reasonTrailing},
		{"letters after a number", `123abc`, 3, reasonTrailing},
		{"invalid UTF-8 in a string (RFC 8259 §8.1)", "{\"name\":\"\xff\"}", 9, reasonUTF8},
		{"byte order mark", "\xef\xbb\xbf{}", 0, reasonSyntax},
		{"duplicate member name", `{"name":"x","name":"y"}`, 18, reasonDuplicate},
		{"duplicate member name nested", `{"items":[{"name":"a"},{"name":1,"name":"b"}],"name":"x"}`, 39, reasonDuplicate},
		{"single quotes", `{'name':'x'}`, 1, reasonSyntax},
		{"NaN is not JSON", `{"count":NaN}`, 9, reasonSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Validate([]byte(tt.body))
			if !errors.Is(err, ErrMalformedJSON) {
				t.Fatalf("Validate(%q) = %q, %v; want ErrMalformedJSON", tt.body, got, err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset != tt.offset || se.Reason != tt.reason {
				t.Fatalf("Validate(%q): %v; want offset %d, %q", tt.body, err, tt.offset, tt.reason)
			}
			if d := se.Detail(); !strings.Contains(d, fmt.Sprint(tt.offset)) {
				t.Fatalf("detail %q lacks the offset", d)
			}
		})
	}
}

func TestValidateNotDuplicates(t *testing.T) {
	// Colons and quotes inside strings, and the same name in sibling
	// objects, are not repeated members.
	s := mustCompile(t, `true`)
	for _, body := range []string{
		`{"a":"x:y","b":"\":\"","c":{"a":1},"d":[{"a":1},{"a":2}]}`,
		`{"a\"":1,"a":2}`,
		`{"\\":1,"\\\\":2}`,
		`"::"`,
	} {
		if v, err := s.Validate([]byte(body)); err != nil || v != nil {
			t.Errorf("Validate(%s) = %q, %v; want valid", body, v, err)
		}
	}
}

func TestCompileErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string // "" means: no file
		want    string
	}{
		{"missing file", "", "no such file"},
		{"not JSON: line and column", "{\n  \"type\": \"object\",\n  oops\n}", "line 3, column 3"},
		{"empty file", " ", "empty"},
		{"keyword of the wrong type", `{"type": 5}`, "type"},
		{"invalid regular expression", `{"pattern": "("}`, "pattern"},
		{"remote $ref refused offline", `{"$ref": "https://example.com/schema.json"}`, "https://example.com/schema.json"},
		{"unknown local $ref", `{"$ref": "#/$defs/nope"}`, "nope"},
		{"unknown $schema draft", `{"$schema": "http://example.com/my-draft"}`, "example.com"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("schema-%d.json", i))
			if tt.content != "" {
				writeFile(t, dir, filepath.Base(p), tt.content)
			}
			s, err := Compile(p)
			if err == nil {
				t.Fatalf("Compile = %v, want an error", s)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q should name %q and say %q", err, p, tt.want)
			}
		})
	}
}

func TestCompileDefaultsToDraft2020(t *testing.T) {
	// prefixItems exists only from draft 2020-12 on.
	s := mustCompile(t, `{"prefixItems":[{"type":"string"}]}`)
	if v, err := s.Validate([]byte(`[1]`)); err != nil || len(v) != 1 || v[0].Pointer != "/0" {
		t.Fatalf("got %q, %v; want a violation at /0", v, err)
	}
	// An explicit $schema is honoured: draft-07 ignores prefixItems.
	s = mustCompile(t, `{"$schema":"http://json-schema.org/draft-07/schema#","prefixItems":[{"type":"string"}]}`)
	if v, err := s.Validate([]byte(`[1]`)); err != nil || v != nil {
		t.Fatalf("got %q, %v; want valid under draft-07", v, err)
	}
	if s.Path() == "" {
		t.Fatal("Path is empty")
	}
}

func TestBoundMessagesAreExact(t *testing.T) {
	s := mustCompile(t, `{"properties":{
		"min":{"minimum":0.1},"xmax":{"exclusiveMaximum":2.5},"xmin":{"exclusiveMinimum":-3},
		"mult":{"multipleOf":0.01},"huge":{"maximum":1},"tiny":{"minimum":1}}}`)
	got, err := s.Validate([]byte(`{"min":0.09,"xmax":2.5,"xmin":-3,"mult":0.005,"huge":1e999,"tiny":1e-999}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Violation{
		{"/huge", "maximum: got 1e+999, want 1"},
		{"/min", "minimum: got 0.09, want 0.1"},
		{"/mult", "multipleOf: got 0.005, want 0.01"},
		{"/tiny", "minimum: got 1e-999, want 1"},
		{"/xmax", "exclusiveMaximum: got 2.5, want 2.5"},
		{"/xmin", "exclusiveMinimum: got -3, want -3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}
