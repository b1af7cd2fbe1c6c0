package router

import (
	"strings"
	"testing"
)

func TestMatchPrecedence(t *testing.T) {
	paths := []string{
		"/v1/assets",           // 0 exact
		"/v1/assets/{id}",      // 1 template
		"/v1/assets/*",         // 2 prefix
		"/v1/assets/search",    // 3 exact
		"/v1/{kind}/{id}",      // 4 template, fewer literals
		"/v1/assets/{id}/tags", // 5 template
		"/v1/{kind}/{id}/tags", // 6
		"/*",                   // 7 root prefix
		"/t/{tenant}/*",        // 8 template prefix
		"/t/{tenant}/files/*",  // 9 longer template prefix
		"/a/{x}/c",             // 10 same literal count as 11
		"/a/b/{y}",             // 11 literal first wins the tie
		"/v1/assets/{id}/",     // 12 trailing slash is a segment
	}
	rt, err := New(paths)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		want       int
	}{
		{"exact beats prefix and template", "/v1/assets", 0},
		{"exact beats template", "/v1/assets/search", 3},
		{"template beats prefix", "/v1/assets/42", 1},
		{"more literal characters win among templates", "/v1/users/42", 4},
		{"deeper template", "/v1/assets/42/tags", 5},
		{"template with fewer literals when the literal one does not fit", "/v1/users/42/tags", 6},
		{"prefix when no template fits", "/v1/assets/42/other", 2},
		{"empty segment is not a parameter value", "/v1/assets//x", 2},
		{"trailing slash is its own template", "/v1/assets/42/", 12},
		{"root prefix", "/elsewhere", 7},
		{"root prefix for /", "/", 7},
		{"template prefix", "/t/acme/x/y", 8},
		{"longer template prefix", "/t/acme/files/a", 9},
		{"template prefix covers its base", "/t/acme", 8},
		{"tie broken by leftmost literal", "/a/b/c", 11},
		{"tie loser still matches alone", "/a/z/c", 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rt.Match([]byte(c.path)); got != c.want {
				t.Fatalf("Match(%q) = %d (%v), want %d (%s)", c.path, got, name(paths, got), c.want, paths[c.want])
			}
		})
	}
}

func name(paths []string, i int) string {
	if i < 0 {
		return "none"
	}
	return paths[i]
}

func TestMatchNone(t *testing.T) {
	rt, err := New([]string{"/v1/assets/{id}", "/v1/assets/*x"[:0] + "/v2/*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/assets", "/v1/assets/", "/v1/assets/1/2", "/v3", "/v2x", ""} {
		if got := rt.Match([]byte(p)); got != -1 {
			t.Errorf("Match(%q) = %d, want none", p, got)
		}
	}
	if got := rt.Match([]byte("/v2")); got != 1 {
		t.Errorf("prefix covers its base: got %d", got)
	}
}

func TestParseRefusesBadTemplates(t *testing.T) {
	cases := []struct{ name, path, want string }{
		{"unbalanced open", "/v1/{id", "unbalanced"},
		{"unbalanced close", "/v1/id}", "unbalanced"},
		{"empty name", "/v1/{}", "empty parameter name"},
		{"duplicate name", "/v1/{id}/x/{id}", "twice"},
		{"partial segment", "/files/{name}.json", "whole segment"},
		{"two in a segment", "/files/{a}{b}", "whole segment"},
		{"nested", "/x/{{a}}", "whole segment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) = %v, want an error about %q", c.path, err, c.want)
			}
		})
	}
}

func TestSameShapeRefused(t *testing.T) {
	_, err := New([]string{"/a/{x}", "/a/{y}"})
	if err == nil || !strings.Contains(err.Error(), "same requests") {
		t.Fatalf("got %v", err)
	}
}

func TestParam(t *testing.T) {
	p, err := Parse("/v1/{kind}/x/{id}")
	if err != nil {
		t.Fatal(err)
	}
	path := []byte("/v1/assets/x/a%20b")
	if got := string(p.Param(path, 0)); got != "assets" {
		t.Fatalf("param 0 = %q", got)
	}
	if got := string(p.Param(path, 1)); got != "a%20b" {
		t.Fatalf("param 1 = %q", got)
	}
	if got := strings.Join(p.Params(), ","); got != "kind,id" {
		t.Fatalf("params = %q", got)
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	rt, err := New(routeSet(100))
	if err != nil {
		t.Fatal(err)
	}
	path := []byte("/svc7/v1/items/123/tags")
	if n := testing.AllocsPerRun(100, func() { rt.Match(path) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
	if rt.Match(path) < 0 {
		t.Fatal("no match")
	}
}
