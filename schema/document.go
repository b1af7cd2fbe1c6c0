package schema

import (
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// CompileDocument compiles several schemas that live in one in-memory
// document (a decoded JSON value: maps, slices, strings, bool, json.Number
// or float64), each named by a JSON Pointer fragment such as
// "#/components/schemas/Asset". The document is registered under url (a
// name for errors; nothing is fetched) and read as draft 2020-12; its
// schemas may $ref each other by local pointer. An OpenAPI import uses it
// once per document (see docs/configuration.md, [[openapi]]).
func CompileDocument(url string, doc any, fragments []string) ([]*Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Nothing outside the document is ever read.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	out := make([]*Schema, len(fragments))
	for i, f := range fragments {
		sch, err := c.Compile(url + f)
		if err != nil {
			return nil, fmt.Errorf("schema at %s: %w", f, err)
		}
		out[i] = New(url+f, sch) // with the fast path for valid bodies
	}
	return out, nil
}

// ValidateValue validates an already decoded value (a parameter's value:
// string, json.Number, bool or a slice of them). The violations' pointers
// start with prefix ("/query/limit").
func (s *Schema) ValidateValue(v any, prefix string) ([]Violation, error) {
	return s.violations(v, prefix, "schema")
}
