// Package openapi turns an OpenAPI 3.0 or 3.1 document (YAML or JSON, with
// local and relative-file $refs) into gateway routes, as the table in
// docs/configuration.md ([[openapi]]) says: each path item is a template
// route; its operations are the route's methods, and each operation brings
// its own request body schema, declared parameters, response media types,
// deprecation and security requirements.
//
// The model: Load reads the document once, at config load (and reload);
// everything it returns is immutable. Schemas are compiled with the
// gateway's validator (package schema, JSON Schema 2020-12): OpenAPI 3.0
// schemas are first rewritten to their 2020-12 equivalents (nullable →
// a "null" type, boolean exclusiveMinimum/Maximum → the numeric form).
//
// Invariants: only files are read (no network); a $ref that does not
// resolve, or a document that is not OpenAPI, is an *Error with the
// document's file, line and JSON Pointer. The document is read with
// kin-openapi (docs/configuration.md says why).
package openapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/cobaltgw/cobaltgw/router"
	"github.com/cobaltgw/cobaltgw/schema"
)

// Spec is one [[openapi]] entry, resolved.
type Spec struct {
	File       string // as written in the config (for messages)
	Path       string // the file to read
	PathPrefix string
	Auth       string // "from_spec", "true" or "false"
	Body       bool   // validate request bodies
	Params     bool   // validate declared parameters
	Now        time.Time
}

// Route is one path item.
type Route struct {
	Path       string // path_prefix + the document's path
	Pointer    string // the path item in the document: "/paths/~1assets~1{id}"
	Operations []*Operation
	Warnings   []string
}

// Operation is one method of a path item.
type Operation struct {
	Method        string
	Auth          bool
	Scopes        []string
	Produces      []string
	Body          *schema.Schema
	BodyRequired  bool
	Params        *Params
	Deprecated    bool
	DeprecationAt time.Time
	SunsetAt      time.Time
}

// Document is a loaded document: its routes, in path order, and every file
// it was read from (the document and the files its $refs name), for a
// file watch.
type Document struct {
	Routes []Route
	Files  []string
}

// Load reads the document and returns its routes.
func Load(spec Spec) (*Document, error) {
	abs, err := filepath.Abs(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("openapi %s: %w", spec.File, err)
	}
	rc := &refChecker{docs: map[string]*yaml.Node{}, display: func(p string) string { return display(spec, abs, p) }}
	if err := rc.check(abs); err != nil {
		return nil, err
	}
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = readLocalFile
	doc, err := l.LoadFromFile(abs)
	if err != nil {
		return nil, &Error{File: spec.File, Line: 1, Col: 1, Msg: "does not load as OpenAPI: " + err.Error()}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") && !strings.HasPrefix(doc.OpenAPI, "3.1") {
		line, col := rc.position(abs, "/openapi")
		return nil, &Error{File: spec.File, Line: line, Col: col, Pointer: "/openapi", Msg: fmt.Sprintf("version %q: only OpenAPI 3.0 and 3.1 are read", doc.OpenAPI)}
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation()); err != nil {
		line, col := rc.position(abs, "/paths")
		return nil, &Error{File: spec.File, Line: line, Col: col, Pointer: "/paths", Msg: "is not a valid OpenAPI document: " + err.Error()}
	}
	b := builder{spec: spec, doc: doc, v30: strings.HasPrefix(doc.OpenAPI, "3.0"), rc: rc, abs: abs}
	routes, err := b.build()
	if err != nil {
		return nil, err
	}
	d := &Document{Routes: routes}
	for f := range rc.docs {
		d.Files = append(d.Files, f)
	}
	sort.Strings(d.Files)
	return d, nil
}

// display names a file for messages: the config's spelling for the root,
// else relative to the root's folder.
func display(spec Spec, root, p string) string {
	if p == root {
		return spec.File
	}
	if rel, err := filepath.Rel(filepath.Dir(root), p); err == nil {
		return filepath.Join(filepath.Dir(spec.File), rel)
	}
	return p
}

// readLocalFile reads file: references only; the gateway loads its config
// offline.
func readLocalFile(l *openapi3.Loader, u *url.URL) ([]byte, error) {
	if u.Scheme != "" && u.Scheme != "file" || u.Host != "" {
		return nil, fmt.Errorf("%s: only local files are read", u.Redacted())
	}
	return openapi3.ReadFromFile(l, u)
}

type builder struct {
	spec Spec
	doc  *openapi3.T
	v30  bool
	rc   *refChecker
	abs  string

	// Schemas to compile: the fragment in the internalized document each
	// pending schema will have, and where to put the result.
	frags   []string
	targets []**schema.Schema
	n       int
}

var methodOrder = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"}

func (b *builder) build() ([]Route, error) {
	ctx := context.Background()
	// Every external $ref becomes a component of the one document, so the
	// schemas compile from one resource.
	b.doc.InternalizeRefs(ctx, nil)
	if b.doc.Components == nil {
		b.doc.Components = &openapi3.Components{}
	}
	if b.doc.Components.Schemas == nil {
		b.doc.Components.Schemas = openapi3.Schemas{}
	}
	var routes []Route
	paths := b.doc.Paths.Keys()
	sort.Strings(paths)
	for _, p := range paths {
		item := b.doc.Paths.Value(p)
		ptr := "/paths/" + escapeToken(p)
		full := b.spec.PathPrefix + p
		if _, err := router.Parse(full); err != nil || !strings.HasPrefix(p, "/") {
			line, col := b.rc.position(b.abs, ptr)
			msg := "must start with \"/\""
			if err != nil {
				msg = err.Error()
			}
			return nil, &Error{File: b.spec.File, Line: line, Col: col, Pointer: ptr, Msg: fmt.Sprintf("path %q %s", full, msg)}
		}
		rt := Route{Path: full, Pointer: ptr}
		ops := item.Operations()
		for _, m := range methodOrder {
			op := ops[strings.ToLower(m)]
			if op == nil {
				op = ops[m]
			}
			if op == nil {
				continue
			}
			o, err := b.operation(m, item, op, ptr+"/"+strings.ToLower(m), &rt)
			if err != nil {
				return nil, err
			}
			rt.Operations = append(rt.Operations, o)
		}
		if len(rt.Operations) == 0 {
			continue
		}
		routes = append(routes, rt)
	}
	if err := b.compile(routes); err != nil {
		return nil, err
	}
	return routes, nil
}

func (b *builder) operation(method string, item *openapi3.PathItem, op *openapi3.Operation, ptr string, rt *Route) (*Operation, error) {
	o := &Operation{Method: method, Produces: produces(op)}
	if op.Deprecated {
		o.Deprecated = true
		o.DeprecationAt = b.spec.Now
		if t, ok, err := extDate(op.Extensions, "x-deprecation-date"); err != nil {
			return o, b.errAt(ptr+"/x-deprecation-date", err)
		} else if ok {
			o.DeprecationAt = t
		}
		if t, ok, err := extDate(op.Extensions, "x-sunset"); err != nil {
			return o, b.errAt(ptr+"/x-sunset", err)
		} else if ok {
			o.SunsetAt = t
		}
	}
	switch b.spec.Auth {
	case "true":
		o.Auth = true
	case "from_spec":
		o.Auth, o.Scopes = b.security(op, rt, method)
	}
	if b.spec.Body && op.RequestBody != nil && op.RequestBody.Value != nil {
		rb := op.RequestBody.Value
		if mt := jsonMedia(rb.Content); mt != nil && mt.Schema != nil {
			o.BodyRequired = rb.Required
			b.pending(mt.Schema, &o.Body)
		}
	}
	if b.spec.Params {
		ps, err := b.params(item, op)
		if err != nil {
			return o, b.errAt(ptr, err)
		}
		o.Params = ps
	}
	return o, nil
}

func (b *builder) errAt(ptr string, err error) error {
	line, col := b.rc.position(b.abs, ptr)
	return &Error{File: b.spec.File, Line: line, Col: col, Pointer: ptr, Msg: err.Error()}
}

// pending registers a schema for compilation; *dst is set by compile.
func (b *builder) pending(ref *openapi3.SchemaRef, dst **schema.Schema) {
	if strings.HasPrefix(ref.Ref, "#/components/schemas/") {
		b.frags = append(b.frags, "#"+ref.Ref[1:])
	} else {
		b.n++
		name := fmt.Sprintf("cobaltgw.inline.%d", b.n)
		b.doc.Components.Schemas[name] = &openapi3.SchemaRef{Value: ref.Value}
		b.frags = append(b.frags, "#/components/schemas/"+name)
	}
	b.targets = append(b.targets, dst)
}

// compile renders the internalized document as JSON, rewrites 3.0
// schemas, and compiles every pending schema from it.
func (b *builder) compile([]Route) error {
	if len(b.frags) == 0 {
		return nil
	}
	raw, err := json.Marshal(b.doc)
	if err != nil {
		return &Error{File: b.spec.File, Line: 1, Col: 1, Msg: "cannot render the document: " + err.Error()}
	}
	var tree map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return &Error{File: b.spec.File, Line: 1, Col: 1, Msg: "cannot render the document: " + err.Error()}
	}
	if b.v30 {
		if comps, ok := tree["components"].(map[string]any); ok {
			if schemas, ok := comps["schemas"].(map[string]any); ok {
				for _, s := range schemas {
					convert30(s)
				}
			}
		}
	}
	// The document's own tree, not a file: nothing else is read.
	sch, err := schema.CompileDocument("urn:cobaltgw:openapi:"+url.PathEscape(b.spec.File), tree, b.frags)
	if err != nil {
		return &Error{File: b.spec.File, Line: 1, Col: 1, Msg: err.Error()}
	}
	for i, s := range sch {
		*b.targets[i] = s
	}
	return nil
}

// convert30 rewrites an OpenAPI 3.0 schema object (and those under it) to
// its JSON Schema 2020-12 equivalent, in place: `nullable: true` adds
// "null" to the type; boolean `exclusiveMinimum`/`exclusiveMaximum` move
// the bound into the numeric keyword (OpenAPI 3.1.0 §4.8.24, "JSON Schema
// Specification Wright Draft 00" vs 2020-12).
func convert30(v any) {
	switch s := v.(type) {
	case map[string]any:
		if n, ok := s["nullable"].(bool); ok {
			delete(s, "nullable")
			if n {
				switch t := s["type"].(type) {
				case string:
					s["type"] = []any{t, "null"}
				case []any:
					s["type"] = append(t, "null")
				}
				if e, ok := s["enum"].([]any); ok {
					s["enum"] = append(e, nil)
				}
			}
		}
		for _, k := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
			if ex, ok := s[k[0]].(bool); ok {
				delete(s, k[0])
				if bound, has := s[k[1]]; ex && has {
					s[k[0]] = bound
					delete(s, k[1])
				}
			}
		}
		for k, c := range s {
			switch k {
			case "enum", "default", "example", "examples", "const":
				continue // data, not schemas
			}
			convert30(c)
		}
	case []any:
		for _, c := range s {
			convert30(c)
		}
	}
}

// produces lists the concrete media types of the 2xx responses; without
// any (a 204-only operation), the route default application/json.
func produces(op *openapi3.Operation) []string {
	seen := map[string]bool{}
	var out []string
	if op.Responses != nil {
		codes := op.Responses.Keys()
		sort.Strings(codes)
		for _, code := range codes {
			if !(strings.HasPrefix(code, "2") && len(code) == 3) {
				continue
			}
			r := op.Responses.Value(code)
			if r == nil || r.Value == nil {
				continue
			}
			types := make([]string, 0, len(r.Value.Content))
			for mt := range r.Value.Content {
				types = append(types, mt)
			}
			sort.Strings(types)
			for _, mt := range types {
				t, _, err := mime.ParseMediaType(mt)
				if err != nil || strings.Contains(t, "*") || seen[t] {
					continue
				}
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	if len(out) == 0 {
		out = []string{"application/json"}
	}
	return out
}

// jsonMedia is the application/json entry of a content map (or a
// +json type), if any.
func jsonMedia(c openapi3.Content) *openapi3.MediaType {
	if mt := c.Get("application/json"); mt != nil {
		return mt
	}
	for k, mt := range c {
		if t, _, err := mime.ParseMediaType(k); err == nil && strings.HasSuffix(t, "+json") {
			return mt
		}
	}
	return nil
}

// extDate reads an x- extension holding an RFC 3339 time or a date.
func extDate(ext map[string]any, key string) (time.Time, bool, error) {
	v, ok := ext[key]
	if !ok {
		return time.Time{}, false, nil
	}
	s, ok := v.(string)
	if !ok {
		if t, ok := v.(time.Time); ok { // YAML reads an unquoted date as a timestamp
			return t, true, nil
		}
		return time.Time{}, false, fmt.Errorf("%s must be an RFC 3339 time or a date such as \"2027-01-31\"", key)
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%s %q is not an RFC 3339 time or a date such as \"2027-01-31\"", key, s)
}

// security reads the operation's requirements (or the document's): the
// first alternative made only of bearer, OAuth2 or OpenID Connect schemes
// makes the route need a token with the union of its scopes; an empty
// alternative ({}) makes authentication optional, so the route is open.
// Alternatives the gateway cannot check (apiKey, basic) are left to the
// upstream, with a warning.
func (b *builder) security(op *openapi3.Operation, rt *Route, method string) (bool, []string) {
	reqs := op.Security
	if reqs == nil {
		reqs = &b.doc.Security
	}
	if len(*reqs) == 0 {
		return false, nil
	}
	for _, alt := range *reqs {
		if len(alt) == 0 {
			return false, nil
		}
	}
	for _, alt := range *reqs {
		var scopes []string
		ok := true
		for name, sc := range alt {
			if !b.tokenScheme(name) {
				ok = false
				break
			}
			scopes = append(scopes, sc...)
		}
		if ok {
			sort.Strings(scopes)
			return true, dedupe(scopes)
		}
	}
	rt.Warnings = append(rt.Warnings, fmt.Sprintf("openapi %s: %s %s: its security schemes are not bearer, OAuth2 or OpenID Connect; the gateway does not check them", b.spec.File, method, rt.Path))
	return false, nil
}

func (b *builder) tokenScheme(name string) bool {
	if b.doc.Components == nil {
		return false
	}
	s := b.doc.Components.SecuritySchemes[name]
	if s == nil || s.Value == nil {
		return false
	}
	switch s.Value.Type {
	case "oauth2", "openIdConnect":
		return true
	case "http":
		return strings.EqualFold(s.Value.Scheme, "bearer")
	}
	return false
}

func dedupe(xs []string) []string {
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

var errNoSchema = errors.New("no schema")
