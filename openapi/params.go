package openapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cobaltgw/cobaltgw/schema"
)

// Params are an operation's declared path, query and header parameters
// (cookie parameters are not checked).
type Params struct {
	list []param
}

type param struct {
	in, name string
	required bool
	typ      string // the schema's type: a scalar's, or "array"
	itemType string // an array's item type
	explode  bool   // query arrays: repeated name=value (form, explode)
	pointer  string // "/query/<name>"
	sch      *schema.Schema
}

// Source gives the raw values of a request's parameters.
type Source interface {
	// PathParam is the raw (percent-encoded) value of a path parameter.
	PathParam(name string) []byte
	// QueryValues are the decoded values of a query parameter.
	QueryValues(name string) []string
	// Header is the value of a header field and whether it is present.
	Header(name string) ([]byte, bool)
}

// Check validates the request's parameters; violations point at
// /path/<name>, /query/<name> or /header/<name>.
func (p *Params) Check(src Source) ([]schema.Violation, error) {
	var out []schema.Violation
	for i := range p.list {
		pr := &p.list[i]
		var vals []string
		switch pr.in {
		case "path":
			raw := src.PathParam(pr.name)
			s, err := url.PathUnescape(string(raw))
			if err != nil {
				s = string(raw)
			}
			vals = []string{s}
		case "query":
			vals = src.QueryValues(pr.name)
		case "header":
			if v, ok := src.Header(pr.name); ok {
				vals = []string{string(v)}
			}
		}
		if len(vals) == 0 {
			if pr.required {
				out = append(out, schema.Violation{Pointer: pr.pointer, Message: fmt.Sprintf("the required %s parameter %q is missing", pr.in, pr.name)})
			}
			continue
		}
		if pr.sch == nil {
			continue
		}
		var v any
		if pr.typ == "array" {
			items := vals
			if len(vals) == 1 && !(pr.in == "query" && pr.explode) {
				items = strings.Split(vals[0], ",")
			}
			arr := make([]any, len(items))
			for j, s := range items {
				arr[j] = coerce(pr.itemType, s)
			}
			v = arr
		} else {
			v = coerce(pr.typ, vals[0])
		}
		vs, err := pr.sch.ValidateValue(v, pr.pointer)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
		if len(out) >= schema.MaxViolations {
			return out[:schema.MaxViolations], nil
		}
	}
	return out, nil
}

// coerce reads a parameter's text as its schema's type says; text that is
// not of that type stays a string, so the schema reports the mismatch.
func coerce(typ, s string) any {
	switch typ {
	case "integer", "number":
		if _, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpP_") && strings.TrimSpace(s) == s && s != "" {
			if n := json.Number(s); json.Valid([]byte(s)) {
				return n
			}
		}
	case "boolean":
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return s
}

func firstType(s *openapi3.Schema) string {
	if s == nil || s.Type == nil {
		return ""
	}
	for _, t := range s.Type.Slice() {
		if t != "null" {
			return t
		}
	}
	return ""
}

// params merges the path item's and the operation's parameters (the
// operation's win, by name and location; OpenAPI 3.1.0 §4.8.10).
func (b *builder) params(item *openapi3.PathItem, op *openapi3.Operation) (*Params, error) {
	var all []*openapi3.Parameter
	idx := map[string]int{}
	for _, list := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, ref := range list {
			if ref == nil || ref.Value == nil {
				continue
			}
			key := ref.Value.In + "\x00" + ref.Value.Name
			if i, ok := idx[key]; ok {
				all[i] = ref.Value
				continue
			}
			idx[key] = len(all)
			all = append(all, ref.Value)
		}
	}
	ps := &Params{}
	var srefs []*openapi3.SchemaRef
	for _, p := range all {
		switch p.In {
		case "path", "query", "header":
		default:
			continue
		}
		pr := param{in: p.In, name: p.Name, required: p.Required || p.In == "path", pointer: "/" + p.In + "/" + escapeToken(p.Name)}
		pr.explode = p.Explode == nil || *p.Explode
		var sref *openapi3.SchemaRef = p.Schema
		if sref == nil {
			if mt := jsonMedia(p.Content); mt != nil {
				sref = mt.Schema
			}
		}
		if sref != nil && sref.Value != nil {
			pr.typ = firstType(sref.Value)
			if pr.typ == "array" && sref.Value.Items != nil {
				pr.itemType = firstType(sref.Value.Items.Value)
			}
		} else {
			sref = nil
		}
		ps.list = append(ps.list, pr)
		srefs = append(srefs, sref)
	}
	if len(ps.list) == 0 {
		return nil, nil
	}
	for i, sref := range srefs {
		if sref != nil {
			b.pending(sref, &ps.list[i].sch)
		}
	}
	return ps, nil
}
