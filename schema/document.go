package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"

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
	err := s.sch.Validate(v)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("schema %s: %w", s.path, err)
	}
	var leaves []leaf
	if err := collectLeaves(ve, &leaves); err != nil {
		return nil, fmt.Errorf("schema %s: %w", s.path, err)
	}
	slices.SortFunc(leaves, func(a, b leaf) int {
		if c := compareLocations(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	leaves = slices.CompactFunc(leaves, func(a, b leaf) bool {
		return a.msg == b.msg && slices.Equal(a.loc, b.loc)
	})
	if len(leaves) > MaxViolations {
		leaves = leaves[:MaxViolations]
	}
	out := make([]Violation, len(leaves))
	for i, l := range leaves {
		out[i] = Violation{Pointer: prefix + jsonPointer(l.loc), Message: l.msg}
	}
	return out, nil
}
