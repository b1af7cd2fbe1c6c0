package schema

import (
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path. The library validates a decoded value (map[string]any and
// friends) and allocates a validator, a scope and an error list per value, so
// decoding plus validating a 1 KiB body costs about a thousand allocations.
// Most bodies are valid, and a valid body needs no error at all: only a yes.
//
// So Compile also translates the library's compiled schema into a program
// (fnode, one per library *jsonschema.Schema) for the keywords of the JSON
// Schema validation vocabulary (type, enum, const, properties, required,
// items, allOf/anyOf/oneOf/not, if/then/else, bounds, lengths, pattern…),
// and Validate first runs that program over the body's token tree (built by
// the jsontext tokenizer, which checks the same RFC 8259 and I-JSON rules as
// decode: UTF-8, one value, no repeated member names). Each check answers
// pass, fail or unknown. Only a pass of the whole body is final: a body that
// fails, or that reaches something the program does not model (the
// unevaluated* keywords, dynamic references, a number with more than 18
// significant digits, a format on a non-string…), takes the library's path
// exactly as before, so every violation, pointer and message still comes
// from the library and malformed JSON gets the same 400 detail. "fail" is
// kept apart from "unknown" because not, anyOf, oneOf and if turn one into
// the other: a fail is only reported where the library would report one.

// tri is the answer of one check.
type tri uint8

const (
	pass tri = iota
	fail
	unknown
)

// JSON types as a mask, the library's "type" keyword values.
const (
	tNull uint8 = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeBits = map[string]uint8{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

// fnode is the program for one library schema.
type fnode struct {
	// opaque: uses a keyword the program does not model; always unknown.
	opaque bool
	// boolean schema: 1 true, 2 false.
	boolean uint8
	// refOnly: drafts before 2019 ignore the other keywords beside $ref
	// after type, enum, const and format (the library checks those first).
	refOnly bool

	types uint8 // 0: no "type"

	enum     []constant // nil: no enum
	hasEnum  bool
	constant *constant
	format   *jsonschema.Format

	ref         *fnode
	allOf       []*fnode
	anyOf       []*fnode
	oneOf       []*fnode
	not         *fnode
	ifs         *fnode
	then, elses *fnode

	// object
	minProps, maxProps int // -1: absent
	members            map[string]member
	presenceBits       int    // names with a presence bit
	requiredMask       uint64 // bits of the required names
	patternProps       []patternProp
	addlFalse          bool
	addl               *fnode
	propertyNames      *fnode
	depRequired        []depRequired
	depSchemas         []depSchema

	// array
	minItems, maxItems int // -1: absent
	unique             bool
	prefix             []*fnode
	items              *fnode // elements after prefix
	itemsFalse         bool   // no element after prefix allowed
	contains           *fnode
	minContains        int // -1: absent (then at least one must match)
	maxContains        int // -1: absent

	// string
	minLen, maxLen int // -1: absent
	pattern        jsonschema.Regexp
	patternRe      *regexp.Regexp // pattern, when it is Go's regexp (no conversion to string)

	// number
	nums       []numCheck
	numUnknown bool // a bound that is not a decimal: every number is unknown
}

// member is what an object schema knows about one property name.
type member struct {
	sch *fnode // "properties" entry, or nil
	bit int    // presence bit (required, dependentRequired), or -1
}

type patternProp struct {
	re  jsonschema.Regexp
	gre *regexp.Regexp
	sch *fnode
}

type depRequired struct {
	bit  int
	need uint64
}

type depSchema struct {
	bit int
	sch *fnode
}

type numKind uint8

const (
	numMinimum numKind = iota
	numMaximum
	numExclusiveMinimum
	numExclusiveMaximum
	numMultipleOf
)

type numCheck struct {
	kind  numKind
	bound decimal
}

// constant is an enum member or const value: a scalar compared by value, or
// a container (compared by the library: unknown).
type constant struct {
	kind uint8 // tNull, tBoolean, tNumber, tString; 0: container or unusable
	b    bool
	num  decimal
	str  string
}

// compileFast translates a compiled library schema. It returns nil when the
// program cannot be used at all: a subschema applies to its own instance in
// a cycle (the library reports such a $ref cycle as an error), or a schema
// names more than 64 required or dependent property names in one object.
func compileFast(root *jsonschema.Schema) *fnode {
	c := fastCompiler{nodes: map[*jsonschema.Schema]*fnode{}}
	f := c.node(root)
	if c.bad || c.hasCycle(f) {
		return nil
	}
	return f
}

type fastCompiler struct {
	nodes map[*jsonschema.Schema]*fnode
	bad   bool
}

func (c *fastCompiler) node(s *jsonschema.Schema) *fnode {
	if s == nil {
		return nil
	}
	if f, ok := c.nodes[s]; ok {
		return f
	}
	f := &fnode{minProps: -1, maxProps: -1, minItems: -1, maxItems: -1,
		minContains: -1, maxContains: -1, minLen: -1, maxLen: -1}
	c.nodes[s] = f
	c.fill(f, s)
	return f
}

func (c *fastCompiler) list(ss []*jsonschema.Schema) []*fnode {
	if len(ss) == 0 {
		return nil
	}
	out := make([]*fnode, len(ss))
	for i, s := range ss {
		out[i] = c.node(s)
	}
	return out
}

func (c *fastCompiler) fill(f *fnode, s *jsonschema.Schema) {
	if s.Bool != nil {
		f.boolean = 2
		if *s.Bool {
			f.boolean = 1
		}
		return
	}
	if s.RecursiveRef != nil || s.DynamicRef != nil || s.UnevaluatedProperties != nil ||
		s.UnevaluatedItems != nil || len(s.Extensions) > 0 || s.ContentEncoding != nil ||
		s.ContentMediaType != nil || s.ContentSchema != nil {
		f.opaque = true
		return
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			f.types |= typeBits[t]
		}
	}
	if s.Enum != nil {
		f.hasEnum = true
		f.enum = make([]constant, len(s.Enum.Values))
		for i, v := range s.Enum.Values {
			f.enum[i] = constantOf(v)
		}
	}
	if s.Const != nil {
		k := constantOf(*s.Const)
		f.constant = &k
	}
	f.format = s.Format
	f.ref = c.node(s.Ref)
	if s.DraftVersion < 2019 && s.Ref != nil {
		f.refOnly = true
		return
	}
	f.allOf = c.list(s.AllOf)
	f.anyOf = c.list(s.AnyOf)
	f.oneOf = c.list(s.OneOf)
	f.not = c.node(s.Not)
	f.ifs, f.then, f.elses = c.node(s.If), c.node(s.Then), c.node(s.Else)

	c.fillObject(f, s)
	c.fillArray(f, s)

	// string
	if s.MinLength != nil {
		f.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		f.maxLen = *s.MaxLength
	}
	if s.Pattern != nil {
		f.pattern = s.Pattern
		f.patternRe, _ = s.Pattern.(*regexp.Regexp)
	}

	// number
	addNum := func(k numKind, present bool, d decimal, ok bool) {
		if !present {
			return
		}
		if !ok {
			f.numUnknown = true
			return
		}
		f.nums = append(f.nums, numCheck{kind: k, bound: d})
	}
	d, ok := decimalFromRat(s.Minimum)
	addNum(numMinimum, s.Minimum != nil, d, ok)
	d, ok = decimalFromRat(s.Maximum)
	addNum(numMaximum, s.Maximum != nil, d, ok)
	d, ok = decimalFromRat(s.ExclusiveMinimum)
	addNum(numExclusiveMinimum, s.ExclusiveMinimum != nil, d, ok)
	d, ok = decimalFromRat(s.ExclusiveMaximum)
	addNum(numExclusiveMaximum, s.ExclusiveMaximum != nil, d, ok)
	d, ok = decimalFromRat(s.MultipleOf)
	addNum(numMultipleOf, s.MultipleOf != nil, d, ok && d.m > 0)
}

func (c *fastCompiler) fillObject(f *fnode, s *jsonschema.Schema) {
	if s.MinProperties != nil {
		f.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		f.maxProps = *s.MaxProperties
	}
	f.members = map[string]member{}
	bit := func(name string) int {
		m, ok := f.members[name]
		if !ok {
			m = member{bit: -1}
		}
		if m.bit < 0 {
			if f.presenceBits == 64 {
				c.bad = true
				return 0
			}
			m.bit = f.presenceBits
			f.presenceBits++
			f.members[name] = m
		}
		return m.bit
	}
	for name, ps := range s.Properties {
		m, ok := f.members[name]
		if !ok {
			m = member{bit: -1}
		}
		m.sch = c.node(ps)
		f.members[name] = m
	}
	for _, name := range s.Required {
		f.requiredMask |= 1 << bit(name)
	}
	for re, ps := range s.PatternProperties {
		pp := patternProp{re: re, sch: c.node(ps)}
		pp.gre, _ = re.(*regexp.Regexp)
		f.patternProps = append(f.patternProps, pp)
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		f.addlFalse = !a
	case *jsonschema.Schema:
		f.addl = c.node(a)
	}
	f.propertyNames = c.node(s.PropertyNames)
	addDepRequired := func(name string, need []string) {
		d := depRequired{bit: bit(name)}
		for _, n := range need {
			d.need |= 1 << bit(n)
		}
		f.depRequired = append(f.depRequired, d)
	}
	for name, dep := range s.Dependencies {
		switch dep := dep.(type) {
		case []string:
			addDepRequired(name, dep)
		case *jsonschema.Schema:
			f.depSchemas = append(f.depSchemas, depSchema{bit: bit(name), sch: c.node(dep)})
		}
	}
	for name, need := range s.DependentRequired {
		addDepRequired(name, need)
	}
	for name, ds := range s.DependentSchemas {
		f.depSchemas = append(f.depSchemas, depSchema{bit: bit(name), sch: c.node(ds)})
	}
	if len(f.members) == 0 {
		f.members = nil
	}
}

func (c *fastCompiler) fillArray(f *fnode, s *jsonschema.Schema) {
	if s.MinItems != nil {
		f.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		f.maxItems = *s.MaxItems
	}
	f.unique = s.UniqueItems
	if s.DraftVersion < 2020 {
		switch items := s.Items.(type) {
		case *jsonschema.Schema:
			f.items = c.node(items)
		case []*jsonschema.Schema:
			f.prefix = c.list(items)
			switch a := s.AdditionalItems.(type) {
			case bool:
				f.itemsFalse = !a
			case *jsonschema.Schema:
				f.items = c.node(a)
			}
		}
	} else {
		f.prefix = c.list(s.PrefixItems)
		f.items = c.node(s.Items2020)
	}
	f.contains = c.node(s.Contains)
	if s.MinContains != nil {
		f.minContains = *s.MinContains
	}
	if s.MaxContains != nil {
		f.maxContains = *s.MaxContains
	}
}

// constantOf reads an enum member or const value of the compiled schema.
func constantOf(v any) constant {
	switch v := v.(type) {
	case nil:
		return constant{kind: tNull}
	case bool:
		return constant{kind: tBoolean, b: v}
	case string:
		return constant{kind: tString, str: v}
	}
	if d, ok := decimalOfValue(v); ok {
		return constant{kind: tNumber, num: d}
	}
	return constant{} // object, array, or a number out of range: unknown
}

// hasCycle reports whether some schema applies to its own instance again
// without descending into it ($ref, allOf, anyOf, oneOf, not, if/then/else,
// dependent schemas): the library answers that with a $ref cycle error.
func (c *fastCompiler) hasCycle(root *fnode) bool {
	const (
		white = iota
		grey
		black
	)
	color := map[*fnode]int{}
	var visit func(f *fnode) bool
	visit = func(f *fnode) bool {
		if f == nil {
			return false
		}
		switch color[f] {
		case grey:
			return true
		case black:
			return false
		}
		color[f] = grey
		same := []*fnode{f.ref, f.not, f.ifs, f.then, f.elses}
		same = append(same, f.allOf...)
		same = append(same, f.anyOf...)
		same = append(same, f.oneOf...)
		for _, d := range f.depSchemas {
			same = append(same, d.sch)
		}
		for _, g := range same {
			if visit(g) {
				return true
			}
		}
		color[f] = black
		return false
	}
	// Every node, not only those reachable through same-instance edges.
	for _, f := range c.nodes {
		if visit(f) {
			return true
		}
	}
	return false
}
