// Command bareproxy is the floor for the gateway's benchmarks: a reverse
// proxy on the same fasthttp server and client, with the same timeouts, and
// none of the gateway's work (no checks, no forwarding fields, no
// normalization, no streaming transport, no metrics). It reads the
// listen address and the first upstream target from a gateway config, so
// bench/variants.sh can run it beside gateway builds:
//
//	go build -o /tmp/bare ./bench/bareproxy
//	bench/variants.sh /tmp/cobaltgw-bench.XXXX /tmp/bare ./cobaltgw
package main

import (
	"flag"
	"log"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

func main() {
	path := flag.String("config", "config.toml", "a gateway config: [server] listen and the first upstream's first target are used")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		log.Fatal(err)
	}
	if len(cfg.Upstreams) == 0 || len(cfg.Upstreams[0].Targets) == 0 {
		log.Fatal("the config has no upstream target")
	}
	s, u := &cfg.Server, &cfg.Upstreams[0]
	hc := &fasthttp.HostClient{
		Addr:         strings.TrimPrefix(strings.TrimSuffix(u.Targets[0], "/"), "http://"),
		MaxConns:     u.MaxConns,
		ReadTimeout:  u.Timeout.D(),
		WriteTimeout: u.Timeout.D(),
	}
	srv := &fasthttp.Server{
		ReadTimeout:  s.ReadTimeout.D(),
		WriteTimeout: s.WriteTimeout.D(),
		IdleTimeout:  s.IdleTimeout.D(),
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Del("Connection")
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
			ctx.Response.Header.Del("Connection")
		},
	}
	log.Fatal(srv.ListenAndServe(s.Listen))
}
