// Package schema checks request bodies against a route's JSON Schema
// (`body_schema` in the config): 400 malformed_json when the body is not
// JSON, 422 schema_violation with a list of violations when it is JSON the
// schema refuses.
//
// The model: Compile reads and compiles a schema file once, at config load;
// the *Schema is immutable and safe for concurrent use, and is replaced, not
// changed, on reload. Validate first runs a fast path that can only prove a
// body valid (fast.go: a program translated from the compiled schema, run
// over the body's tokens without allocating); every other body is decoded
// once and the decoded value validated by the library, which produces the
// violations. A body is JSON when it is one RFC 8259 JSON text encoded in UTF-8
// (§8.1), with nothing but whitespace after it and no object that repeats a
// member name (RFC 8259 §4 leaves duplicates to the parser; an upstream that
// keeps the first of two members while the gateway validated the last would
// let a body around the schema, so duplicates are malformed here, as I-JSON,
// RFC 7493 §2.3, requires).
//
// Invariants: compiling never touches the network (only the schema's own
// file and file: references are read; draft meta-schemas are built in);
// "pattern" uses Go's RE2 engine, linear in the input, so a body cannot make
// validation take exponential time; Validate's violations are at most
// MaxViolations, sorted by instance location, each with a plain-English
// message that names nothing but the client's own document and the schema's
// rules (no file paths).
package schema

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxViolations bounds the violations Validate reports, so a large body that
// is wrong everywhere gets a short, useful 422.
const MaxViolations = 20

// Violation is one reason the body fails its schema.
type Violation struct {
	// Pointer is the RFC 6901 JSON Pointer of the offending value in the
	// request body; "" is the whole body.
	Pointer string `json:"pointer"`
	// Message says, in plain English, what is wrong there.
	Message string `json:"message"`
}

// Schema is a compiled body schema.
type Schema struct {
	path string
	sch  *jsonschema.Schema
	fast *fnode // nil: every body takes the library's path (see fast.go)
}

// Path returns the file the schema was compiled from, as given to Compile.
func (s *Schema) Path() string { return s.path }

// Compile reads the JSON Schema in the file at path and compiles it. A schema
// without "$schema" is read as draft 2020-12. Every error names path and the
// problem (for a JSON syntax error, the line and column). References are
// resolved within the file, or to other files by file: URL or relative path;
// http(s) and every other scheme are refused, since the gateway compiles its
// config offline and must not fetch code-like input at load time.
func Compile(path string) (*Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("body schema %s: %w", path, err)
	}
	doc, err := decodeSchemaFile(data)
	if err != nil {
		return nil, fmt.Errorf("body schema %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("body schema %s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// The default loader already reads only files; naming the schemes makes
	// the offline rule explicit and survives a change of library default.
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}})
	if err := c.AddResource(abs, doc); err != nil {
		return nil, fmt.Errorf("body schema %s: %w", path, err)
	}
	sch, err := c.Compile(abs)
	if err != nil {
		return nil, fmt.Errorf("body schema %s: %w", path, err)
	}
	return New(path, sch), nil
}

// New wraps a schema compiled elsewhere with the library (an OpenAPI
// document's, say) so that Validate checks bodies against it with the same
// rules, messages and fast path as a compiled body_schema file. name is
// what Path returns and what errors about the schema itself name. The
// numbers of the schema document are expected as the library's decoder
// leaves them (json.Number) or as Go numbers.
func New(name string, sch *jsonschema.Schema) *Schema {
	return &Schema{path: name, sch: sch, fast: compileFast(sch)}
}

// decodeSchemaFile decodes the schema document with the same rules as a
// body, reporting a syntax error as line:column for the operator.
func decodeSchemaFile(data []byte) (any, error) {
	doc, err := decode(data)
	var se *SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, se.Offset)
		return nil, fmt.Errorf("not valid JSON at line %d, column %d: %s", line, col, se.Reason)
	}
	return doc, err
}

func lineCol(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// printer renders the library's messages; English, the contract's language.
var printer = message.NewPrinter(language.English)

// Validate decodes body and validates it. It returns a *SyntaxError (which
// matches ErrMalformedJSON with errors.Is: 400 malformed_json) when the body
// is not JSON, the violations (422 schema_violation) when the schema refuses
// it, and nil, nil when it passes. Any other error is the schema's fault, not
// the client's (500).
func (s *Schema) Validate(body []byte) (violations []Violation, err error) {
	// Most bodies are valid: prove that without decoding into maps; any
	// other answer takes the library's path below (fast.go).
	if s.fast != nil && s.fast.fastValid(body) {
		return nil, nil
	}
	v, err := decode(body)
	if err != nil {
		return nil, err
	}
	return s.violations(v, "", "body schema")
}

// violations validates v and lists its violations, sorted by location and
// at most MaxViolations, each pointer prefixed with prefix; what names the
// schema in an error.
func (s *Schema) violations(v any, prefix, what string) ([]Violation, error) {
	err := s.sch.Validate(v)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, err)
	}
	var leaves []leaf
	if err := collectLeaves(ve, &leaves); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, s.path, err)
	}
	slices.SortFunc(leaves, func(a, b leaf) int {
		if c := compareLocations(a.loc, b.loc); c != 0 {
			return c
		}
		return strings.Compare(a.msg, b.msg)
	})
	// Several branches (anyOf, allOf…) can say the same thing about the same
	// value: report it once.
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

type leaf struct {
	loc []string
	msg string
}

// collectLeaves gathers the errors without causes: the specific failures
// (type, required, minimum…) under the group nodes (allOf, $ref, the root).
func collectLeaves(e *jsonschema.ValidationError, out *[]leaf) error {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			if err := collectLeaves(c, out); err != nil {
				return err
			}
		}
		return nil
	}
	var msg string
	switch k := e.ErrorKind.(type) {
	case *kind.RefCycle:
		// A schema whose $refs loop on the same value: a config bug, and
		// its message holds file URLs.
		return fmt.Errorf("$ref cycle at %s", k.KeywordLocation1)
	case *kind.Schema, *kind.Group, *kind.Reference:
		msg = "validation failed" // group kinds; their messages may hold the schema's URL
	// The library prints these bounds as float64, so 100.000000000000000001
	// against a maximum of 100 would read "got 100, want 100"; print the
	// exact decimals that were compared.
	case *kind.Minimum:
		msg = boundMessage("minimum", k.Got, k.Want)
	case *kind.Maximum:
		msg = boundMessage("maximum", k.Got, k.Want)
	case *kind.ExclusiveMinimum:
		msg = boundMessage("exclusiveMinimum", k.Got, k.Want)
	case *kind.ExclusiveMaximum:
		msg = boundMessage("exclusiveMaximum", k.Got, k.Want)
	case *kind.MultipleOf:
		msg = boundMessage("multipleOf", k.Got, k.Want)
	default:
		msg = e.ErrorKind.LocalizedString(printer)
	}
	*out = append(*out, leaf{loc: e.InstanceLocation, msg: msg})
	return nil
}

func boundMessage(keyword string, got, want *big.Rat) string {
	return keyword + ": got " + ratString(got) + ", want " + ratString(want)
}

// ratString writes r as the decimal it came from when that is short (JSON
// numbers are decimals, so their denominators divide a power of ten), else
// with 17 significant digits, enough to tell any two float64 apart.
func ratString(r *big.Rat) string {
	const maxLen = 40
	if r.IsInt() {
		if s := r.Num().String(); len(s) <= maxLen {
			return s
		}
	} else {
		ten := big.NewInt(10)
		pow := big.NewInt(1)
		rem := new(big.Int)
		for n := 1; n <= maxLen; n++ {
			pow.Mul(pow, ten)
			if rem.Rem(pow, r.Denom()).Sign() == 0 {
				if s := r.FloatString(n); len(s) <= maxLen {
					return s
				}
				break
			}
		}
	}
	return new(big.Float).SetRat(r).Text('g', 17)
}

// compareLocations orders instance locations token by token, a parent
// before its children. Digit-only tokens (array indexes) come first and in
// numeric order, so /items/2 comes before /items/10; the rest compare as
// strings. That is a total order, so the sort is the same whatever order the
// library reported the errors in (it walks maps).
func compareLocations(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareTokens(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func compareTokens(a, b string) int {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
	case da:
		return -1
	case db:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// jsonPointer writes an instance location as an RFC 6901 JSON Pointer: each
// token after "/", with "~" written "~0" and "/" written "~1" (§3).
func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		for i := 0; i < len(t); i++ {
			switch t[i] {
			case '~':
				sb.WriteString("~0")
			case '/':
				sb.WriteString("~1")
			default:
				sb.WriteByte(t[i])
			}
		}
	}
	return sb.String()
}
