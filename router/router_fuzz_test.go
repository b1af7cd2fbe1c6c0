package router

import "testing"

// FuzzRouter: any route path either parses or is refused with an error;
// a router built from parsed paths never panics on any request path, and
// a match is always consistent with the pattern's own segments.
func FuzzRouter(f *testing.F) {
	for _, s := range []string{"/v1/assets/{id}", "/v1/{a}/{b}/*", "/*", "/a/{}", "/a/{x", "/files/{n}.json", "/a/b/", "/"} {
		f.Add(s, "/v1/assets/42")
	}
	f.Fuzz(func(t *testing.T, route, path string) {
		p, err := Parse(route)
		if err != nil {
			return
		}
		rt, err := New([]string{route, "/*"})
		if err != nil {
			return
		}
		i := rt.Match([]byte(path))
		if len(path) > 0 && path[0] == '/' && i < 0 {
			t.Fatalf("the root prefix did not match %q", path)
		}
		if i == 0 && p.Kind != Exact {
			for k := range p.Params() {
				if len(p.Param([]byte(path), k)) == 0 {
					t.Fatalf("%q matched %q with an empty parameter %d", path, route, k)
				}
			}
		}
	})
}
