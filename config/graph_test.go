package config

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/cobaltgw/cobaltgw/"

// config is data and syntax only (README.md "Architecture"): it, and
// everything of ours it imports, import no policy package; only
// internal/ helpers such as internal/httpsyntax. Each policy package
// imports config instead and builds its own section.
func TestConfigImportsNoPolicyPackage(t *testing.T) {
	seen := map[string]bool{}
	var visit func(pkg, dir string)
	visit = func(pkg, dir string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files in %s (%v)", pkg, dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range af.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				rel, ours := strings.CutPrefix(path, module)
				if !ours {
					continue
				}
				if !strings.HasPrefix(rel, "internal/") {
					t.Errorf("%s imports %s (%s): config must import no policy package; move the check into that package's Build", pkg, path, filepath.Base(f))
					continue
				}
				visit(path, filepath.Join("..", filepath.FromSlash(rel)))
			}
		}
	}
	visit(module+"config", ".")
	if !seen[module+"config"] {
		t.Fatal("config not visited")
	}
}
