// Package router matches a normalized request path against route paths of
// three kinds (docs/configuration.md, "Paths"):
//
//   - exact: "/v1/assets" matches that path only;
//   - template: "/v1/assets/{id}" — each "{name}" is a whole segment and
//     matches one non-empty segment of the request path;
//   - prefix: "/v1/*" matches "/v1" and every path below it (a prefix may
//     contain template segments too: "/t/{tenant}/*").
//
// When several match, an exact path beats a template and a template beats a
// prefix; among templates, or among prefixes, the one with more literal
// characters wins, and at equal counts the one whose first differing
// segment is literal (then the smaller path string) wins, so the choice
// never depends on the order of the config.
//
// Exact paths are one map lookup. Templates and prefixes live in a segment
// trie keyed by literal segments, each node with at most one wildcard
// child, so a match costs work proportional to the request's segments (and
// the few wildcard branches along them), not to the number of routes, and
// allocates nothing.
package router

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is the kind of a route path.
type Kind uint8

// The kinds of route paths, in the order in which they win.
const (
	Exact Kind = iota
	Template
	Prefix
)

func (k Kind) String() string {
	switch k {
	case Exact:
		return "exact"
	case Template:
		return "template"
	}
	return "prefix"
}

// Segment is one segment of a pattern: a literal, or a parameter.
type Segment struct {
	Lit   string // the literal text, when Param is ""
	Param string // the parameter's name, without braces
}

// Pattern is a parsed route path.
type Pattern struct {
	Path     string
	Kind     Kind
	Segments []Segment // after the leading "/"; a prefix's without "/*"
	Literal  int       // literal characters: slashes and literal segments
}

// Params are the names of the pattern's parameters, in path order.
func (p *Pattern) Params() []string {
	var out []string
	for _, s := range p.Segments {
		if s.Param != "" {
			out = append(out, s.Param)
		}
	}
	return out
}

// Parse checks a route path's template syntax and splits it. It does not
// check the rest of the path's spelling (config does).
func Parse(path string) (Pattern, error) {
	p := Pattern{Path: path, Kind: Exact}
	base, prefix := strings.CutSuffix(path, "/*")
	if prefix {
		p.Kind = Prefix
	}
	if !strings.HasPrefix(base, "/") {
		if prefix && base == "" {
			p.Literal = 1
			return p, nil // "/*": every path
		}
		return p, fmt.Errorf("must start with \"/\"")
	}
	seen := map[string]bool{}
	for _, seg := range strings.Split(base[1:], "/") {
		p.Literal++ // the slash before the segment
		open, close := strings.Count(seg, "{"), strings.Count(seg, "}")
		switch {
		case open == 0 && close == 0:
			p.Segments = append(p.Segments, Segment{Lit: seg})
			p.Literal += len(seg)
			continue
		case open != close:
			return p, fmt.Errorf("has unbalanced braces in segment %q; a parameter is written {name}", seg)
		case open > 1 || seg[0] != '{' || seg[len(seg)-1] != '}':
			return p, fmt.Errorf("segment %q mixes a parameter with other text; a parameter must be a whole segment such as {id}", seg)
		}
		name := seg[1 : len(seg)-1]
		if name == "" {
			return p, fmt.Errorf("has an empty parameter name {}; write a name such as {id}")
		}
		if seen[name] {
			return p, fmt.Errorf("names the parameter {%s} twice; each parameter name may appear once", name)
		}
		seen[name] = true
		p.Segments = append(p.Segments, Segment{Param: name})
		if p.Kind == Exact {
			p.Kind = Template
		}
	}
	return p, nil
}

// Shape is the path with each parameter name blanked ("/a/{}"): two paths
// of the same shape match the same requests.
func (p *Pattern) Shape() string {
	if p.Kind == Exact {
		return p.Path
	}
	var b strings.Builder
	for _, s := range p.Segments {
		b.WriteByte('/')
		if s.Param != "" {
			b.WriteString("{}")
		} else {
			b.WriteString(s.Lit)
		}
	}
	if p.Kind == Prefix {
		b.WriteString("/*")
	}
	return b.String()
}

// Router finds the best pattern for a path. It is immutable once built and
// safe for concurrent use.
type Router struct {
	patterns []Pattern
	exact    map[string]int32
	root     *node
	// rank orders template and prefix patterns by preference (lower wins);
	// every template ranks before every prefix.
	rank []int32
}

type node struct {
	lit    map[string]*node
	param  *node
	tmpl   int32 // pattern ending here as a template, or -1
	prefix int32 // prefix pattern ending here, or -1
}

func newNode() *node { return &node{tmpl: -1, prefix: -1} }

// New builds a router over paths; Match returns indexes into paths. Two
// paths of the same shape are an error.
func New(paths []string) (*Router, error) {
	rt := &Router{exact: map[string]int32{}, root: newNode(), rank: make([]int32, len(paths))}
	shapes := map[string]int{}
	var ordered []int32
	for i, path := range paths {
		p, err := Parse(path)
		if err != nil {
			return nil, fmt.Errorf("route path %q %w", path, err)
		}
		sh := p.Shape()
		if j, dup := shapes[sh]; dup {
			return nil, fmt.Errorf("route path %q matches the same requests as %q", path, paths[j])
		}
		shapes[sh] = i
		rt.patterns = append(rt.patterns, p)
		if p.Kind == Exact {
			rt.exact[path] = int32(i)
			continue
		}
		n := rt.root
		for _, s := range p.Segments {
			if s.Param != "" {
				if n.param == nil {
					n.param = newNode()
				}
				n = n.param
				continue
			}
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			c := n.lit[s.Lit]
			if c == nil {
				c = newNode()
				n.lit[s.Lit] = c
			}
			n = c
		}
		if p.Kind == Template {
			n.tmpl = int32(i)
		} else {
			n.prefix = int32(i)
		}
		ordered = append(ordered, int32(i))
	}
	sort.SliceStable(ordered, func(a, b int) bool { return rt.better(ordered[a], ordered[b]) })
	for r, i := range ordered {
		rt.rank[i] = int32(r)
	}
	return rt, nil
}

// better is the static preference between two non-exact patterns.
func (rt *Router) better(a, b int32) bool {
	pa, pb := &rt.patterns[a], &rt.patterns[b]
	if pa.Kind != pb.Kind {
		return pa.Kind < pb.Kind
	}
	if pa.Literal != pb.Literal {
		return pa.Literal > pb.Literal
	}
	for k := 0; k < len(pa.Segments) && k < len(pb.Segments); k++ {
		la, lb := pa.Segments[k].Param == "", pb.Segments[k].Param == ""
		if la != lb {
			return la
		}
	}
	return pa.Path < pb.Path
}

// Pattern returns the parsed pattern of path i.
func (rt *Router) Pattern(i int) *Pattern { return &rt.patterns[i] }

// Match returns the index of the best pattern for path (a normalized path
// starting with "/"), or -1.
func (rt *Router) Match(path []byte) int {
	if i, ok := rt.exact[string(path)]; ok {
		return int(i)
	}
	if len(path) == 0 || path[0] != '/' {
		return -1
	}
	return int(rt.walk(rt.root, path[1:], true, -1))
}

// walk returns the better of best and the best pattern under n for rest,
// the path after a "/" (more = false: the path ended before that "/").
func (rt *Router) walk(n *node, rest []byte, more bool, best int32) int32 {
	if n.prefix >= 0 {
		best = rt.pick(best, n.prefix)
	}
	if !more {
		if n.tmpl >= 0 {
			best = rt.pick(best, n.tmpl)
		}
		return best
	}
	seg, next, nmore := rest, []byte(nil), false
	for i, c := range rest {
		if c == '/' {
			seg, next, nmore = rest[:i], rest[i+1:], true
			break
		}
	}
	if n.lit != nil {
		if c := n.lit[string(seg)]; c != nil {
			best = rt.walk(c, next, nmore, best)
		}
	}
	if n.param != nil && len(seg) > 0 {
		best = rt.walk(n.param, next, nmore, best)
	}
	return best
}

func (rt *Router) pick(best, cand int32) int32 {
	if best < 0 || rt.rank[cand] < rt.rank[best] {
		return cand
	}
	return best
}

// Param returns the value of the k-th parameter (in path order) of
// pattern p in path, which p matched; the value is a view into path,
// still percent-encoded as the path is.
func (p *Pattern) Param(path []byte, k int) []byte {
	if len(path) == 0 {
		return nil
	}
	rest := path[1:]
	for _, s := range p.Segments {
		seg := rest
		if i := indexSlash(rest); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if s.Param == "" {
			continue
		}
		if k == 0 {
			return seg
		}
		k--
	}
	return nil
}

func indexSlash(b []byte) int {
	for i, c := range b {
		if c == '/' {
			return i
		}
	}
	return -1
}
