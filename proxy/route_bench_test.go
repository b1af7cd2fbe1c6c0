package proxy

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkTemplateRoute: the decisions of a GET on a template route among
// many (10, 100, 1000 routes): routing stays allocation-free and its cost
// does not grow with the number of routes.
func BenchmarkTemplateRoute(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		var cfg strings.Builder
		cfg.WriteString(benchConfig)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&cfg, "[[routes]]\npath = \"/svc%d/v1/items/{id}\"\nmethods = [\"GET\"]\nupstream = \"api\"\n", i)
		}
		g := benchGateway(b, cfg.String())
		ctx := benchCtx(fmt.Sprintf("/svc%d/v1/items/42", n-1), "Accept", "application/json")
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := request{g: g, rt: g.rt.Load(), ctx: ctx, start: g.now()}
				r.setRequestID()
				ok := r.checkMessage() && r.checkTeapot() && r.checkRoute() && r.checkMaintenance() && r.checkAccept()
				if !ok || r.route == nil {
					b.Fatalf("refused: %d %s", r.status, r.code)
				}
			}
		})
	}
}
