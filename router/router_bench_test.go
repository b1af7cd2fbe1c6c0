package router

import (
	"fmt"
	"testing"
)

// routeSet is n/10 services, each with the ten routes a typical REST
// resource has: exact, templates at two depths, and a prefix.
func routeSet(n int) []string {
	var out []string
	for s := 0; len(out) < n; s++ {
		base := fmt.Sprintf("/svc%d/v1", s)
		out = append(out,
			base+"/items",
			base+"/items/{id}",
			base+"/items/{id}/tags",
			base+"/items/{id}/tags/{tag}",
			base+"/items/search",
			base+"/users/{user}/items",
			base+"/users/{user}",
			base+"/health",
			base+"/static/*",
			base+"/{kind}/{id}",
		)
	}
	return out[:n]
}

// BenchmarkMatch shows the cost of a match with 10, 100 and 1000 routes;
// it should not grow with the route count.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		rt, err := New(routeSet(n))
		if err != nil {
			b.Fatal(err)
		}
		last := n/10 - 1
		for _, c := range []struct{ name, path string }{
			{"exact", fmt.Sprintf("/svc%d/v1/items", last)},
			{"template", fmt.Sprintf("/svc%d/v1/items/123/tags", last)},
			{"prefix", fmt.Sprintf("/svc%d/v1/static/css/site.css", last)},
			{"miss", "/nowhere/at/all"},
		} {
			path := []byte(c.path)
			if c.name != "miss" && rt.Match(path) < 0 {
				b.Fatalf("%s: no match", c.path)
			}
			b.Run(fmt.Sprintf("routes=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					rt.Match(path)
				}
			})
		}
	}
}
