package lifecycle

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/metrics"
	"github.com/cobaltgw/cobaltgw/proxy"
)

// BenchmarkHandlerMetrics is the whole request handler with the metrics
// observer off (admin.listen = "") and on, for an answer the gateway
// gives itself (404: the largest share metrics can take) and a GET
// proxied to an upstream on loopback (the usual case).
func BenchmarkHandlerMetrics(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":42}`)
	}}
	go up.Serve(ln)
	defer up.Shutdown()

	doc := `
[log]
access = false
[[upstreams]]
name = "api"
targets = ["http://` + ln.Addr().String() + `"]
[[routes]]
path = "/v1/assets/*"
methods = ["GET"]
upstream = "api"
`
	for _, path := range []string{"/nowhere", "/v1/assets/42"} {
		for _, on := range []bool{false, true} {
			name := path + "/metrics=off"
			if on {
				name = path + "/metrics=on"
			}
			b.Run(name, func(b *testing.B) {
				cfg, err := config.Parse([]byte(doc), "bench.toml")
				if err != nil {
					b.Fatal(err)
				}
				gw, err := proxy.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					b.Fatal(err)
				}
				if on {
					m := metrics.New(time.Now())
					m.SetSources(sources(gw))
					gw.SetObserver(m)
				}
				h := gw.Handler()
				addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
				var (
					ctx fasthttp.RequestCtx
					req fasthttp.Request
				)
				req.Header.SetMethod("GET")
				req.SetRequestURI(path)
				req.Header.SetHost("gw.example")
				b.ReportAllocs()
				for b.Loop() {
					ctx.Response.Reset()
					ctx.Init(&req, addr, nil) // copies req: the handler rewrites its copy
					h(&ctx)
				}
				b.ReportMetric(float64(ctx.Response.StatusCode()), "status")
			})
		}
	}
}
