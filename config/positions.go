package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a place in the file, 1-based.
type pos struct{ line, col int }

// index maps a key path ("server.listen", "routes[2].upstream",
// "rate_limits.per_ip") to where it is written, so semantic errors found
// after decoding still point at file:line:col, and so defaults for
// repeated tables can tell an absent key from one set to its zero value.
type index struct {
	at    map[string]pos
	val   map[string]pos // where each key's value (or array element) starts
	count map[string]int // entries of each [[array table]]
}

func (ix *index) has(path string) bool { _, ok := ix.at[path]; return ok }

// buildIndex walks the document with go-toml's AST parser. It returns the
// parser's error for a syntax error; Decode reports those with positions too.
func buildIndex(data []byte) (*index, error) {
	ix := &index{at: map[string]pos{}, val: map[string]pos{}, count: map[string]int{}}
	var p unstable.Parser
	p.Reset(data)
	var table string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			name, at := keyPath(&p, e.Key())
			table = name
			ix.at[table] = at
		case unstable.ArrayTable:
			name, at := keyPath(&p, e.Key())
			n := ix.count[name]
			ix.count[name] = n + 1
			table = name + "[" + strconv.Itoa(n) + "]"
			ix.at[table] = at
		case unstable.KeyValue:
			ix.keyValue(&p, table, e)
		}
	}
	return ix, p.Error()
}

func (ix *index) keyValue(p *unstable.Parser, table string, e *unstable.Node) {
	name, at := keyPath(p, e.Key())
	full := join(table, name)
	ix.at[full] = at
	v := e.Value()
	if v != nil && v.Raw.Length > 0 {
		ix.val[full] = start(p, v)
	}
	if v != nil && v.Kind == unstable.Array {
		it, i := v.Children(), 0
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			if c.Raw.Length > 0 {
				ix.val[full+"["+strconv.Itoa(i)+"]"] = start(p, c)
			}
			i++
		}
	}
	if v != nil && v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.keyValue(p, full, c)
			}
		}
	}
}

func keyPath(p *unstable.Parser, it unstable.Iterator) (string, pos) {
	var parts []string
	var at pos
	first := true
	for it.Next() {
		n := it.Node()
		if first {
			s := p.Shape(n.Raw).Start
			at = pos{s.Line, s.Column}
			first = false
		}
		parts = append(parts, string(n.Data))
	}
	return strings.Join(parts, "."), at
}

func start(p *unstable.Parser, n *unstable.Node) pos {
	s := p.Shape(n.Raw).Start
	return pos{s.Line, s.Column}
}

// value returns where the value at path is written: the value itself when
// the index has it, else the key's place or its nearest written parent.
func (ix *index) value(path string) pos {
	if at, ok := ix.val[path]; ok {
		return at
	}
	return ix.nearest(path)
}

func join(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}

// nearest returns the position of path, or of its closest written parent,
// so an error about a missing key points at the table that lacks it.
func (ix *index) nearest(path string) pos {
	for path != "" {
		if at, ok := ix.at[path]; ok {
			return at
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return pos{1, 1}
}
