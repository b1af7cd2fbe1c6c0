package proxy

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/cobaltgw/cobaltgw/config"
)

const benchConfig = `
[log]
access = false
[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9"]
[[routes]]
path = "/v1/assets"
methods = ["GET", "POST"]
upstream = "api"
[[routes]]
path = "/v1/assets/*"
methods = ["GET"]
upstream = "api"
[[routes]]
path = "/v1/users/*"
methods = ["GET"]
upstream = "api"
[[routes]]
path = "/v2/*"
methods = ["GET"]
upstream = "api"
`

func benchGateway(tb testing.TB, doc string) *Gateway {
	tb.Helper()
	cfg, err := config.Parse([]byte(doc), "bench.toml")
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func benchCtx(uri string, headers ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(uri)
	req.Header.SetHost("gw.example")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}, nil)
	return ctx
}

// BenchmarkDecisionPipeline measures the decisions of a plain proxied GET:
// request id, message checks, path normalization, routing, maintenance,
// Accept negotiation, and the normalization of a 200 upstream response.
func BenchmarkDecisionPipeline(b *testing.B) {
	g := benchGateway(b, benchConfig)
	ctx := benchCtx("/v1/assets/42/./thumb?size=large", "Accept", "application/json, */*;q=0.5", "User-Agent", "bench")
	ctx.Response.SetStatusCode(200)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.SetBodyString(`{"id":42}`)
	b.ReportAllocs()
	for b.Loop() {
		r := request{g: g, rt: g.rt.Load(), ctx: ctx, start: g.now()}
		r.setRequestID()
		ok := r.checkMessage() && r.checkTeapot() && r.checkRoute() && r.checkMaintenance() && r.checkAccept() && r.checkAuth() && r.checkBody()
		if !ok || r.route == nil {
			b.Fatalf("refused: %d %s", r.status, r.code)
		}
		r.normalizeResponse()
		r.decorate()
	}
}

// BenchmarkNotFound is the cheapest refusal: a 404 contract body.
func BenchmarkNotFound(b *testing.B) {
	g := benchGateway(b, benchConfig)
	ctx := benchCtx("/nope")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		g.handle(ctx)
		if ctx.Response.StatusCode() != 404 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}

// BenchmarkProxiedGET runs the whole handler against a fasthttp upstream
// on loopback: the gateway's cost per proxied request plus one loopback
// round trip.
func BenchmarkProxiedGET(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go fasthttp.Serve(ln, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	})
	g := benchGateway(b, strings.Replace(benchConfig, "127.0.0.1:9", ln.Addr().String(), 1))
	ctx := benchCtx("/v1/assets/42", "Accept", "application/json")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.SetRequestURI("/v1/assets/42")
		ctx.Response.Reset()
		g.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
