package schema

import (
	"fmt"
	"testing"
)

const draft7 = `"$schema":"http://json-schema.org/draft-07/schema#",`

// diffSchemas exercise every keyword the fast path models, and some it
// leaves to the library. Each is checked against diffBodies (and fuzzed
// bodies in FuzzFastPathAgreesWithLibrary).
var diffSchemas = []string{
	benchSchema,
	testSchema,
	`true`,
	`false`,
	`{"type":"number","minimum":1.5,"maximum":10,"multipleOf":0.25}`,
	`{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":100}`,
	`{"type":["integer","string"],"minimum":-2.5,"maxLength":2}`,
	`{"multipleOf":3}`,
	`{"maximum":1e400}`,
	`{"maximum":100.00000000000000000001}`,
	`{"enum":["a","b",1,2.50,null,true,{"x":1},[1]]}`,
	`{"enum":[1e30, 0.1]}`,
	`{"const":"x\u00e9"}`,
	`{"const":{"a":[1]}}`,
	`{"const":false}`,
	`{"anyOf":[{"type":"string"},{"type":"integer","minimum":5}]}`,
	`{"oneOf":[{"type":"integer"},{"type":"number","multipleOf":0.5}]}`,
	`{"oneOf":[{"minimum":2},{"unevaluatedProperties":false}]}`,
	`{"not":{"type":"null"}}`,
	`{"not":{"unevaluatedItems":false}}`,
	`{"if":{"properties":{"k":{"const":"a"}}},"then":{"required":["a"]},"else":{"required":["b"]}}`,
	`{"patternProperties":{"^x-":{"type":"string"},"^[a-z]$":{"type":"integer"}},"additionalProperties":false}`,
	`{"properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string","minLength":2}}`,
	`{"propertyNames":{"maxLength":3,"pattern":"^[a-zé]+$"},"minProperties":1,"maxProperties":2}`,
	`{"dependentRequired":{"a":["b","c"]},"dependentSchemas":{"k":{"properties":{"a":{"const":1}}}}}`,
	`{` + draft7 + `"dependencies":{"a":["b"],"k":{"required":["z"]}}}`,
	`{"prefixItems":[{"type":"integer"},{"type":"string"}],"items":false}`,
	`{"prefixItems":[{"type":"integer"}],"items":{"type":"boolean"},"minItems":1,"maxItems":3}`,
	`{"contains":{"type":"string"},"minContains":2,"maxContains":3}`,
	`{"contains":{"const":1}}`,
	`{"uniqueItems":true}`,
	`{` + draft7 + `"items":[{"type":"integer"}],"additionalItems":false}`,
	`{` + draft7 + `"items":[{"type":"integer"}],"additionalItems":{"type":"string"}}`,
	`{` + draft7 + `"items":{"type":"integer"}}`,
	`{"type":"string","minLength":2,"maxLength":3,"pattern":"^[a-z\u00e9]"}`,
	`{` + draft7 + `"format":"email"}`,
	`{` + draft7 + `"definitions":{"a":{"type":"string"}},"$ref":"#/definitions/a","maxLength":1}`,
	`{"$defs":{"n":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"}}},"additionalProperties":false}},"$ref":"#/$defs/n"}`,
	`{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s","maxLength":1}`,
	`{"properties":{"a":{"unevaluatedProperties":false}},"required":["a"]}`,
	`{"allOf":[{"required":["a"]},{"properties":{"a":{"type":"integer"}}}]}`,
	`{"properties":{"\"q":{"type":"integer"},"a/b":{"type":"string"}}}`,
}

var diffBodies = []string{
	`null`, `true`, `false`, `0`, `-0`, `1`, `1.0`, `1.5`, `1.75`, `1.25`, `-3`, `1e2`, `2.5e-1`, `1E+1`,
	`100`, `99.99`, `10`, `10.0`, `3`, `6`, `9.5`, `12345678901234567890123`, `1e400`, `0.1`, `1e30`,
	`100.00000000000000000001`, `100.000000000000000000`,
	`"a"`, `"ab"`, `"abc"`, `"abcd"`, `"\u0061"`, `"é"`, `"éé"`, `"x\u00e9"`, `"xé"`, `"A"`, `"a@b.c"`, `"nope"`,
	`[]`, `[1]`, `[1,1]`, `[1,"1"]`, `[1,2,3]`, `[1,2,3,4]`, `["a","a"]`, `["a","\u0061"]`, `[1,1.0]`,
	`[1,"x"]`, `[1,"x",2]`, `[1,true]`, `[1,true,false]`, `[[1],[1]]`, `[{"a":1},{"a":1}]`, `[null,null]`,
	`["a","b","c","d"]`, `["a",1,"b"]`, `[1,1,1]`, `[{"x":1}]`, `[1e400]`,
	`{}`, `{"a":1}`, `{"a":"x"}`, `{"a":1,"b":2}`, `{"a":1,"b":2,"c":3}`, `{"k":"a","a":1}`, `{"k":"a"}`,
	`{"k":"b"}`, `{"k":"b","b":0}`, `{"x-a":"s"}`, `{"x-a":1}`, `{"q":1}`, `{"ab":"s"}`, `{"ab":"xy"}`,
	`{"é":1}`, `{"abcd":1}`, `{"A":1}`, `{"\u0061":"s"}`, `{"k":1,"z":1}`, `{"\"q":1}`, `{"\"q":"x"}`,
	`{"a/b":1}`, `{"c":[{"c":[]},{}]}`, `{"c":[{"c":[{"x":1}]}]}`, `{"c":{}}`, `{"x":1}`,
	`{"name":"x","items":[{"name":"y"}],"count":3}`, `{"name":"","items":[]}`, `{"name":"x","items":[{}]}`,
	`{"a":{"x":1}}`, `{"a":{}}`, `{"a":1.0}`, `{"a":1.5}`,
	// not JSON, or not I-JSON: always the library's path
	``, ` `, `{`, `{"a":1,"a":2}`, `{} {}`, `1x`, "\"\xff\"", `"\ud800"`, "\xef\xbb\xbf{}", `[1,]`,
}

// libraryValid is the answer of the library's path: decode, then validate.
func libraryValid(t testing.TB, s *Schema, body []byte) (valid, decoded bool) {
	t.Helper()
	v, err := decode(body)
	if err != nil {
		return false, false
	}
	return s.sch.Validate(v) == nil, true
}

// checkFastAgrees fails when the fast path says pass where the library
// refuses, or fail where the library accepts.
func checkFastAgrees(t testing.TB, src string, s *Schema, body []byte) tri {
	t.Helper()
	if s.fast == nil {
		return unknown
	}
	got := s.fast.answer(body)
	valid, decoded := libraryValid(t, s, body)
	switch {
	case got == pass && !decoded:
		t.Fatalf("schema %s: fast path passed %q, which is not JSON to decode", src, body)
	case got == pass && !valid:
		t.Fatalf("schema %s: fast path passed %q, which the library refuses", src, body)
	case got == fail && valid:
		t.Fatalf("schema %s: fast path failed %q, which the library accepts", src, body)
	}
	return got
}

func TestFastPathAgreesWithLibrary(t *testing.T) {
	passes := 0
	dir := t.TempDir()
	for i, src := range diffSchemas {
		s := mustCompile(t, src)
		// The same schema below the root (where its own $refs and
		// $schema still resolve): the checks must also hold inside an
		// object and an array.
		wrapped, err := Compile(writeFile(t, dir, fmt.Sprintf("w%d.json", i),
			`{"properties":{"v":`+src+`},"items":`+src+`}`))
		if err != nil {
			wrapped = nil
		}
		for _, b := range diffBodies {
			if checkFastAgrees(t, src, s, []byte(b)) == pass {
				passes++
			}
			if wrapped != nil {
				checkFastAgrees(t, "wrapped "+src, wrapped, []byte(`{"v":`+b+`}`))
				checkFastAgrees(t, "wrapped "+src, wrapped, []byte(`[`+b+`]`))
			}
		}
	}
	if passes < 500 {
		t.Fatalf("only %d bodies took the fast path; the comparison proves little", passes)
	}
}

// TestFastPathIsTaken pins which common schemas and bodies the fast path
// answers on its own (a regression here is a slowdown, not a wrong answer).
func TestFastPathIsTaken(t *testing.T) {
	tests := []struct {
		schema, body string
		want         tri
	}{
		{benchSchema, string(benchBody()), pass},
		{testSchema, `{"name":"x","items":[{"name":"y"}],"count":3}`, pass},
		{testSchema, `{"name":"x","items":[],"count":100.00000000000000000001}`, unknown},
		{testSchema, `{"name":"x","items":[],"count":99.5}`, pass},
		{testSchema, `{"name":"x","items":[],"count":100.5}`, fail},
		{testSchema, `{"name":"x\n","items":[]}`, pass},
		{`{"type":"integer"}`, `1.0`, pass},
		{`{"type":"integer"}`, `1.5`, fail},
		{`{"type":"integer"}`, `1e2`, pass},
		{`{"multipleOf":0.01}`, `10.99`, pass},
		{`{"multipleOf":0.01}`, `10.999`, fail},
		{`{"enum":["a",{"x":1}]}`, `"a"`, pass},
		{`{"enum":["a",{"x":1}]}`, `{"x":1}`, unknown},
		{`{"not":{"unevaluatedItems":false}}`, `[]`, unknown},
		{`{"uniqueItems":true}`, `["a","b"]`, pass},
		{`{"uniqueItems":true}`, `["a","a"]`, fail},
		{`{"type":"object"}`, `{"a":1,"a":2}`, unknown},
	}
	for _, tt := range tests {
		s := mustCompile(t, tt.schema)
		if s.fast == nil {
			t.Fatalf("schema %s: no fast path", tt.schema)
		}
		if got := s.fast.answer([]byte(tt.body)); got != tt.want {
			t.Errorf("schema %s, body %s: fast path answered %d, want %d", tt.schema, tt.body, got, tt.want)
		}
	}
}

func TestFastPathOffForRefCycle(t *testing.T) {
	for _, src := range []string{
		`{"$ref":"#"}`,
		`{"$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"not":{"$ref":"#/$defs/a"}}},"$ref":"#/$defs/a"}`,
	} {
		s := mustCompile(t, src)
		if s.fast != nil {
			t.Errorf("schema %s: a same-instance cycle must leave every body to the library", src)
		}
	}
	s := mustCompile(t, `{"$ref":"#"}`)
	if _, err := s.Validate([]byte(`{}`)); err == nil {
		t.Error("want the library's $ref cycle error")
	}
}

func TestFastPathValidBodyDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	s := mustCompile(t, benchSchema)
	body := benchBody()
	if n := testing.AllocsPerRun(100, func() {
		if v, err := s.Validate(body); v != nil || err != nil {
			t.Fatal(v, err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per valid body, want 0", n)
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		lit  string
		want decimal
		ok   bool
	}{
		{"0", decimal{}, true},
		{"-0.000", decimal{}, true},
		{"10.990", decimal{1099, 2}, true},
		{"0.05", decimal{5, 2}, true},
		{"-3", decimal{-3, 0}, true},
		{"1e2", decimal{100, 0}, true},
		{"1.5E-3", decimal{15, 4}, true},
		{"2.50e+1", decimal{25, 0}, true},
		{"123456789012345678", decimal{123456789012345678, 0}, true},
		{"1234567890123456789", decimal{}, false},
		{"1e18", decimal{}, false},
		{"1e17", decimal{1e17, 0}, true},
		{"1e-18", decimal{1, 18}, true},
		{"1e-19", decimal{}, false},
		{"1e99999999999", decimal{}, false},
		{"100.00000000000000000001", decimal{}, false},
	}
	for _, tt := range tests {
		got, ok := parseDecimal([]byte(tt.lit))
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseDecimal(%s) = %v, %v; want %v, %v", tt.lit, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzFastPathAgreesWithLibrary: for any body and each of the diff schemas,
// a pass of the fast path is a body the library accepts, and a fail one it
// refuses.
func FuzzFastPathAgreesWithLibrary(f *testing.F) {
	for i, b := range diffBodies {
		f.Add(uint8(i), []byte(b))
	}
	f.Add(uint8(0), benchBody())
	compiled := make([]*Schema, len(diffSchemas))
	for i, src := range diffSchemas {
		compiled[i] = mustCompile(f, src)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		i := int(which) % len(diffSchemas)
		checkFastAgrees(t, diffSchemas[i], compiled[i], body)
	})
}

// Schemas of an in-memory document (an OpenAPI import) get the fast path
// too, and it agrees with the library there.
func TestFastPathForDocumentSchemas(t *testing.T) {
	doc, err := decode([]byte(`{"components":{"schemas":{
		"Asset":{"type":"object","required":["name"],"properties":{"name":{"type":"string","minLength":1},"size":{"$ref":"#/components/schemas/Size"}}},
		"Size":{"type":"integer","minimum":0,"maximum":1000}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := CompileDocument("urn:test", doc, []string{"#/components/schemas/Asset"})
	if err != nil {
		t.Fatal(err)
	}
	s := ss[0]
	if s.fast == nil {
		t.Fatal("no fast path for a document schema")
	}
	for _, b := range []string{`{"name":"a","size":3}`, `{"name":"","size":3}`, `{"name":"a","size":-1}`, `{"size":3}`, `{"name":"a","size":1.5}`} {
		checkFastAgrees(t, "Asset", s, []byte(b))
	}
	if got := s.fast.answer([]byte(`{"name":"a","size":3}`)); got != pass {
		t.Fatalf("fast path answered %d for a valid body", got)
	}
}
