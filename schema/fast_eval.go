package schema

import (
	"bytes"
	"io"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// node is one JSON value (or object member name) of the body, in document
// order: a container is followed by its children, and next is the index
// after its last descendant, so a subtree is nodes[i:nodes[i].next].
type node struct {
	kind  jsontext.Kind // '{', '[', '"', '0', 't', 'f', 'n'
	esc   bool          // a string with a backslash escape
	start int32         // raw bytes of a scalar in the body (a string with its quotes)
	end   int32
	next  int32
	n     int32 // direct children; an object's are its names and values, alternating
}

// fastState is the per-call working memory, pooled so that a valid body
// costs no allocation in the common case.
type fastState struct {
	dec     jsontext.Decoder
	buf     bytes.Buffer
	body    []byte
	nodes   []node
	stack   []int32
	scratch []byte
}

var fastStates = sync.Pool{New: func() any { return new(fastState) }}

// maxPooledNodes bounds the node slice a pooled state keeps; a larger body
// (tens of thousands of values) gets a state of its own.
const maxPooledNodes = 1 << 14

// fastValid reports whether the program proves body valid: one JSON text
// (RFC 8259) the schema accepts. false means "ask the library".
func (f *fnode) fastValid(body []byte) bool {
	return f.answer(body) == pass
}

func (f *fnode) answer(body []byte) tri {
	st := fastStates.Get().(*fastState)
	r := unknown
	if st.build(body) {
		r = f.eval(st, 0)
	}
	st.body = nil
	st.buf = bytes.Buffer{}
	st.dec.Reset(&st.buf) // drop the decoder's reference to the body
	if cap(st.nodes) <= maxPooledNodes {
		fastStates.Put(st)
	}
	return r
}

// build tokenizes body into st.nodes. jsontext checks RFC 8259 syntax, UTF-8
// (§8.1) and repeated member names (RFC 7493 §2.3) by default; false when
// any of that fails, or when text follows the value (§2), which leaves the
// body to decode and its exact 400 detail.
func (st *fastState) build(body []byte) bool {
	if len(body) > math.MaxInt32 {
		return false
	}
	st.body = body
	st.buf = *bytes.NewBuffer(body) // read in place, without a copy
	st.dec.Reset(&st.buf)
	st.nodes = st.nodes[:0]
	st.stack = st.stack[:0]
	for {
		k := st.dec.PeekKind()
		idx := int32(len(st.nodes))
		switch k {
		case '{', '[':
			if _, err := st.dec.ReadToken(); err != nil {
				return false
			}
			st.count()
			st.nodes = append(st.nodes, node{kind: k})
			st.stack = append(st.stack, idx)
		case '}', ']':
			if _, err := st.dec.ReadToken(); err != nil {
				return false
			}
			top := len(st.stack) - 1
			st.nodes[st.stack[top]].next = idx
			st.stack = st.stack[:top]
		case '"', '0', 't', 'f', 'n':
			v, err := st.dec.ReadValue()
			if err != nil {
				return false
			}
			st.count()
			end := int32(st.dec.InputOffset())
			st.nodes = append(st.nodes, node{
				kind:  k,
				esc:   k == '"' && bytes.IndexByte(v, '\\') >= 0,
				start: end - int32(len(v)),
				end:   end,
				next:  idx + 1,
			})
		default:
			return false // a syntax error; PeekKind reports it as no kind
		}
		if len(st.stack) == 0 {
			break
		}
	}
	_, err := st.dec.ReadValue()
	return err == io.EOF
}

func (st *fastState) count() {
	if top := len(st.stack) - 1; top >= 0 {
		st.nodes[st.stack[top]].n++
	}
}

func (st *fastState) raw(n *node) []byte { return st.body[n.start:n.end] }

// str returns the contents of a string node. An escaped string is unquoted
// into st.scratch, valid until the next call.
func (st *fastState) str(n *node) ([]byte, bool) {
	raw := st.raw(n)
	if !n.esc {
		return raw[1 : len(raw)-1], true
	}
	var err error
	st.scratch, err = jsontext.AppendUnquote(st.scratch[:0], raw)
	return st.scratch, err == nil
}

// name returns a member name that stays valid across nested evaluation.
func (st *fastState) name(n *node) ([]byte, bool) {
	s, ok := st.str(n)
	if n.esc {
		s = bytes.Clone(s) // rare: an escaped member name
	}
	return s, ok
}

// and combines two checks that must both pass.
func and(a, b tri) tri {
	switch {
	case a == fail || b == fail:
		return fail
	case a == unknown || b == unknown:
		return unknown
	}
	return pass
}

// eval runs the program for f on the value at node i. The order of checks
// follows the library's validator; only the answer matters here.
func (f *fnode) eval(st *fastState, i int32) tri {
	switch {
	case f.opaque:
		return unknown
	case f.boolean == 1:
		return pass
	case f.boolean == 2:
		return fail
	}
	n := &st.nodes[i]
	r := pass
	if f.types != 0 {
		if r = and(r, f.typeOK(st, n)); r == fail {
			return fail
		}
	}
	if f.constant != nil {
		if r = and(r, st.equalConst(n, f.constant)); r == fail {
			return fail
		}
	}
	if f.hasEnum {
		if r = and(r, f.inEnum(st, n)); r == fail {
			return fail
		}
	}
	if f.format != nil {
		if r = and(r, f.formatOK(st, n)); r == fail {
			return fail
		}
	}
	if f.ref != nil {
		if r = and(r, f.ref.eval(st, i)); r == fail {
			return fail
		}
	}
	if f.refOnly {
		return r
	}
	switch n.kind {
	case '{':
		r = and(r, f.evalObject(st, i))
	case '[':
		r = and(r, f.evalArray(st, i))
	case '"':
		r = and(r, f.evalString(st, n))
	case '0':
		r = and(r, f.evalNumber(st, n))
	}
	if r == fail {
		return fail
	}
	return and(r, f.evalApplicators(st, i))
}

func (f *fnode) evalApplicators(st *fastState, i int32) tri {
	r := pass
	for _, g := range f.allOf {
		if r = and(r, g.eval(st, i)); r == fail {
			return fail
		}
	}
	if len(f.anyOf) > 0 {
		any := fail
		for _, g := range f.anyOf {
			x := g.eval(st, i)
			if x == pass {
				any = pass
				break
			}
			if x == unknown {
				any = unknown
			}
		}
		if r = and(r, any); r == fail {
			return fail
		}
	}
	if len(f.oneOf) > 0 {
		passed, unsure := 0, 0
		for _, g := range f.oneOf {
			switch g.eval(st, i) {
			case pass:
				passed++
			case unknown:
				unsure++
			}
		}
		one := fail
		switch {
		case passed > 1:
			one = fail
		case unsure > 0:
			one = unknown
		case passed == 1:
			one = pass
		}
		if r = and(r, one); r == fail {
			return fail
		}
	}
	if f.not != nil {
		switch f.not.eval(st, i) {
		case pass:
			return fail
		case unknown:
			r = and(r, unknown)
		}
	}
	if f.ifs != nil {
		var x tri
		switch f.ifs.eval(st, i) {
		case pass:
			x = pass
			if f.then != nil {
				x = f.then.eval(st, i)
			}
		case fail:
			x = pass
			if f.elses != nil {
				x = f.elses.eval(st, i)
			}
		default:
			x = unknown
		}
		r = and(r, x)
	}
	return r
}

func (f *fnode) typeOK(st *fastState, n *node) tri {
	var t uint8
	switch n.kind {
	case 'n':
		t = tNull
	case 't', 'f':
		t = tBoolean
	case '"':
		t = tString
	case '[':
		t = tArray
	case '{':
		t = tObject
	case '0':
		if f.types&tNumber != 0 {
			return pass
		}
		if f.types&tInteger == 0 {
			return fail
		}
		d, ok := parseDecimal(st.raw(n))
		switch {
		case !ok:
			return unknown
		case d.s == 0:
			return pass
		}
		return fail
	}
	if f.types&t != 0 {
		return pass
	}
	return fail
}

func (st *fastState) equalConst(n *node, c *constant) tri {
	switch c.kind {
	case 0: // a container or an unreadable number: the library compares
		if n.kind == '{' || n.kind == '[' || n.kind == '0' {
			return unknown
		}
		return fail
	case tNull:
		return boolTri(n.kind == 'n')
	case tBoolean:
		return boolTri(n.kind == 't' && c.b || n.kind == 'f' && !c.b)
	case tString:
		if n.kind != '"' {
			return fail
		}
		s, ok := st.str(n)
		if !ok {
			return unknown
		}
		return boolTri(string(s) == c.str)
	case tNumber:
		if n.kind != '0' {
			return fail
		}
		d, ok := parseDecimal(st.raw(n))
		if !ok {
			return unknown
		}
		cmp, ok := cmpDecimal(d, c.num)
		if !ok {
			return unknown
		}
		return boolTri(cmp == 0)
	}
	return unknown
}

func boolTri(ok bool) tri {
	if ok {
		return pass
	}
	return fail
}

func (f *fnode) inEnum(st *fastState, n *node) tri {
	r := fail
	for i := range f.enum {
		switch st.equalConst(n, &f.enum[i]) {
		case pass:
			return pass
		case unknown:
			r = unknown
		}
	}
	return r
}

func (f *fnode) formatOK(st *fastState, n *node) tri {
	if n.kind != '"' {
		return unknown // a format may judge numbers too; the library knows
	}
	s, ok := st.str(n)
	if !ok {
		return unknown
	}
	return boolTri(f.format.Validate(string(s)) == nil)
}

func (f *fnode) evalObject(st *fastState, i int32) tri {
	n := &st.nodes[i]
	members := int(n.n / 2)
	if f.minProps >= 0 && members < f.minProps || f.maxProps >= 0 && members > f.maxProps {
		return fail
	}
	r := pass
	var present uint64
	for c := i + 1; c < n.next; {
		nameIdx, valIdx := c, c+1
		c = st.nodes[valIdx].next
		name, ok := st.name(&st.nodes[nameIdx])
		if !ok {
			return unknown
		}
		evaluated := false
		if f.members != nil {
			if m, ok := f.members[string(name)]; ok {
				if m.bit >= 0 {
					present |= 1 << m.bit
				}
				if m.sch != nil {
					evaluated = true
					if r = and(r, m.sch.eval(st, valIdx)); r == fail {
						return fail
					}
				}
			}
		}
		for _, pp := range f.patternProps {
			if pp.matches(name) {
				evaluated = true
				if r = and(r, pp.sch.eval(st, valIdx)); r == fail {
					return fail
				}
			}
		}
		if !evaluated {
			if f.addlFalse {
				return fail
			}
			if f.addl != nil {
				if r = and(r, f.addl.eval(st, valIdx)); r == fail {
					return fail
				}
			}
		}
		if f.propertyNames != nil {
			if r = and(r, f.propertyNames.eval(st, nameIdx)); r == fail {
				return fail
			}
		}
	}
	if present&f.requiredMask != f.requiredMask {
		return fail
	}
	for _, d := range f.depRequired {
		if present&(1<<d.bit) != 0 && present&d.need != d.need {
			return fail
		}
	}
	for _, d := range f.depSchemas {
		if present&(1<<d.bit) != 0 {
			if r = and(r, d.sch.eval(st, i)); r == fail {
				return fail
			}
		}
	}
	return r
}

func (pp *patternProp) matches(name []byte) bool {
	if pp.gre != nil {
		return pp.gre.Match(name)
	}
	return pp.re.MatchString(string(name))
}

func (f *fnode) evalArray(st *fastState, i int32) tri {
	n := &st.nodes[i]
	count := int(n.n)
	if f.minItems >= 0 && count < f.minItems || f.maxItems >= 0 && count > f.maxItems {
		return fail
	}
	r := pass
	if f.unique && count > 1 {
		if r = and(r, st.unique(i)); r == fail {
			return fail
		}
	}
	k := 0
	for c := i + 1; c < n.next; c = st.nodes[c].next {
		var sch *fnode
		switch {
		case k < len(f.prefix):
			sch = f.prefix[k]
		case f.itemsFalse:
			return fail
		default:
			sch = f.items
		}
		if sch != nil {
			if r = and(r, sch.eval(st, c)); r == fail {
				return fail
			}
		}
		k++
	}
	if f.contains != nil {
		matched, unsure := 0, 0
		for c := i + 1; c < n.next; c = st.nodes[c].next {
			switch f.contains.eval(st, c) {
			case pass:
				matched++
			case unknown:
				unsure++
			}
		}
		lo := f.minContains
		if lo < 0 {
			lo = 1
		}
		switch {
		case matched+unsure < lo:
			return fail
		case matched < lo:
			r = and(r, unknown)
		}
		if hi := f.maxContains; hi >= 0 {
			switch {
			case matched > hi:
				return fail
			case matched+unsure > hi:
				r = and(r, unknown)
			}
		}
	}
	return r
}

// maxUniqueCompare bounds the pairwise "uniqueItems" comparison; a longer
// array is left to the library (which hashes).
const maxUniqueCompare = 64

// unique answers "uniqueItems" for arrays of scalars; arrays holding
// containers, escaped strings or unreadable numbers are the library's.
func (st *fastState) unique(i int32) tri {
	n := &st.nodes[i]
	if n.n > maxUniqueCompare {
		return unknown
	}
	for a := i + 1; a < n.next; a = st.nodes[a].next {
		na := &st.nodes[a]
		if na.kind == '{' || na.kind == '[' || na.esc {
			return unknown
		}
		for b := a + 1; b < n.next; b = st.nodes[b].next {
			nb := &st.nodes[b]
			if nb.kind != na.kind {
				continue // containers and escapes among them are caught as a
			}
			switch na.kind {
			case 'n', 't', 'f':
				return fail
			case '"':
				if nb.esc {
					continue // checked when b's turn comes
				}
				if bytes.Equal(st.raw(na), st.raw(nb)) {
					return fail
				}
			case '0':
				x, okx := parseDecimal(st.raw(na))
				y, oky := parseDecimal(st.raw(nb))
				if !okx || !oky {
					return unknown
				}
				if c, ok := cmpDecimal(x, y); !ok {
					return unknown
				} else if c == 0 {
					return fail
				}
			}
		}
	}
	return pass
}

func (f *fnode) evalString(st *fastState, n *node) tri {
	if f.minLen < 0 && f.maxLen < 0 && f.pattern == nil {
		return pass
	}
	s, ok := st.str(n)
	if !ok {
		return unknown
	}
	if f.minLen >= 0 || f.maxLen >= 0 {
		// The library counts code points (utf8.RuneCount), as JSON Schema
		// does (§6.3.1 of the validation vocabulary).
		l := utf8.RuneCount(s)
		if f.minLen >= 0 && l < f.minLen || f.maxLen >= 0 && l > f.maxLen {
			return fail
		}
	}
	if f.pattern != nil {
		var m bool
		if f.patternRe != nil {
			m = f.patternRe.Match(s)
		} else {
			m = f.pattern.MatchString(string(s))
		}
		if !m {
			return fail
		}
	}
	return pass
}

func (f *fnode) evalNumber(st *fastState, n *node) tri {
	if len(f.nums) == 0 {
		if f.numUnknown {
			return unknown
		}
		return pass
	}
	d, ok := parseDecimal(st.raw(n))
	if !ok {
		return unknown
	}
	r := pass
	if f.numUnknown {
		r = unknown
	}
	for _, c := range f.nums {
		var good, ok bool
		if c.kind == numMultipleOf {
			good, ok = isMultiple(d, c.bound)
		} else {
			var cmp int
			cmp, ok = cmpDecimal(d, c.bound)
			switch c.kind {
			case numMinimum:
				good = cmp >= 0
			case numMaximum:
				good = cmp <= 0
			case numExclusiveMinimum:
				good = cmp > 0
			case numExclusiveMaximum:
				good = cmp < 0
			}
		}
		switch {
		case !ok:
			r = unknown
		case !good:
			return fail
		}
	}
	return r
}
