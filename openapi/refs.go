package openapi

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a document that does not load: the file, the line and column,
// and the JSON Pointer (RFC 6901) of the offending place in that file.
type Error struct {
	File      string
	Line, Col int
	Pointer   string
	Msg       string
}

func (e *Error) Error() string {
	at := ""
	if e.Pointer != "" || e.Line > 0 {
		at = fmt.Sprintf(" (at #%s)", e.Pointer)
	}
	return fmt.Sprintf("%s:%d:%d: %s%s", e.File, e.Line, e.Col, e.Msg, at)
}

// refChecker reads the document and every file it refers to as YAML (JSON
// is YAML) and checks that each $ref resolves, so a broken reference is
// reported with its own file, line and pointer. The library's loader does
// the real resolution afterwards; its errors carry no positions.
type refChecker struct {
	display func(abs string) string // the file name as the operator wrote it
	docs    map[string]*yaml.Node   // absolute path → document node
}

// load parses abs, or returns the parsed copy.
func (c *refChecker) load(abs string) (*yaml.Node, error) {
	if n, ok := c.docs[abs]; ok {
		return n, nil
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	c.docs[abs] = root
	return root, nil
}

// check walks the file at abs and every file reachable through its $refs.
func (c *refChecker) check(abs string) error {
	root, err := c.load(abs)
	if err != nil {
		return &Error{File: c.display(abs), Line: yamlLine(err), Col: 1, Msg: err.Error()}
	}
	seen := map[string]bool{abs: true}
	queue := []string{abs}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		root = c.docs[file]
		var walkErr error
		walk(root, "", func(n *yaml.Node, ptr string, ref string) bool {
			target, frag, err := splitRef(file, ref)
			if err != nil {
				walkErr = &Error{File: c.display(file), Line: n.Line, Col: n.Column, Pointer: ptr, Msg: fmt.Sprintf("$ref %q: %v", ref, err)}
				return false
			}
			doc, err := c.load(target)
			if err != nil {
				walkErr = &Error{File: c.display(file), Line: n.Line, Col: n.Column, Pointer: ptr, Msg: fmt.Sprintf("$ref %q does not resolve: %v", ref, err)}
				return false
			}
			if _, err := resolvePointer(doc, frag); err != nil {
				walkErr = &Error{File: c.display(file), Line: n.Line, Col: n.Column, Pointer: ptr, Msg: fmt.Sprintf("$ref %q does not resolve: %v in %s", ref, err, c.display(target))}
				return false
			}
			if !seen[target] {
				seen[target] = true
				queue = append(queue, target)
			}
			return true
		})
		if walkErr != nil {
			return walkErr
		}
	}
	return nil
}

// walk calls fn for each "$ref" string member under n, with the pointer of
// the object that holds it; fn returns false to stop.
func walk(n *yaml.Node, ptr string, fn func(n *yaml.Node, ptr, ref string) bool) bool {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "$ref" && v.Kind == yaml.ScalarNode {
				if !fn(v, ptr, v.Value) {
					return false
				}
				continue
			}
			if !walk(v, ptr+"/"+escapeToken(k.Value), fn) {
				return false
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if !walk(c, fmt.Sprintf("%s/%d", ptr, i), fn) {
				return false
			}
		}
	case yaml.AliasNode:
		// Aliases repeat a node already walked.
	}
	return true
}

// splitRef resolves ref against the file that holds it: the target file
// (absolute) and the decoded fragment. Only files are read.
func splitRef(file, ref string) (string, string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", "", fmt.Errorf("not a URI reference")
	}
	if u.Scheme != "" && u.Scheme != "file" || u.Host != "" {
		return "", "", fmt.Errorf("only local files are read (no %s:// references)", u.Scheme)
	}
	target := file
	if u.Path != "" {
		target = u.Path
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(file), filepath.FromSlash(u.Path))
		}
	}
	return target, u.Fragment, nil
}

// resolvePointer finds the node a fragment ("/components/schemas/X")
// names (RFC 6901).
func resolvePointer(root *yaml.Node, frag string) (*yaml.Node, error) {
	if frag == "" {
		return root, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("fragment %q is not a JSON Pointer", frag)
	}
	n := root
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return nil, fmt.Errorf("nothing at #%s", frag)
		}
		n = next
	}
	return n, nil
}

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// yamlLine extracts "line N" from a YAML error, or 1.
func yamlLine(err error) int {
	var line int
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		fmt.Sscanf(s[i+5:], "%d", &line)
	}
	if line < 1 {
		line = 1
	}
	return line
}

// position finds the line and column of pointer in the document at abs
// (for errors found after loading), or 1, 1.
func (c *refChecker) position(abs, pointer string) (int, int) {
	root, err := c.load(abs)
	if err != nil {
		return 1, 1
	}
	n, err := resolvePointer(root, pointer)
	if err != nil || pointer == "" {
		return 1, 1
	}
	return n.Line, n.Column
}
