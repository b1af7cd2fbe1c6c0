package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Codes holds every Code* constant once, and the packages that answer
// with a code (proxy, metrics) spell it through the constants, never as
// a string literal, so the list, the docs and the metrics stay one set.
func TestCodesBindConstantsAndLiterals(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "contract.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Code") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						v, _ := strconv.Unquote(lit.Value)
						consts[v] = true
					}
				}
			}
		}
		return true
	})
	listed := map[string]bool{}
	for _, c := range Codes {
		if listed[c] {
			t.Errorf("%q is listed twice in Codes", c)
		}
		listed[c] = true
		if !consts[c] {
			t.Errorf("%q is in Codes but is no Code* constant", c)
		}
	}
	for c := range consts {
		if !listed[c] {
			t.Errorf("constant %q is missing from Codes", c)
		}
	}
	for _, dir := range []string{"../proxy", "../metrics"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			pf, err := parser.ParseFile(fset, file, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(pf, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil && listed[v] {
						t.Errorf("%s: the literal %q; use the contract.Code… constant", fset.Position(lit.Pos()), v)
					}
				}
				return true
			})
		}
	}
}
