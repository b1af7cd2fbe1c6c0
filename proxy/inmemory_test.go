package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/cobaltgw/cobaltgw/config"
)

// inmemGateway serves doc over an in-memory listener (no socket, no
// binary) in front of a real upstream on 127.0.0.1, and returns a client
// that dials it. The end-to-end suite (e2e/) covers the whole process;
// these tests pin each stage's decisions quickly.
func inmemGateway(t *testing.T, doc func(upstream string) string) (*Gateway, *fasthttp.Client, func(string) *config.Config) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	parse := func(d string) *config.Config {
		cfg, err := config.Parse([]byte(d), "inmem.toml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	g, err := New(parse(doc(up.URL)), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go g.Serve(ln)
	t.Cleanup(func() { ln.Close(); g.rt.Load().close() })
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	return g, c, func(d string) *config.Config { return parse(strings.ReplaceAll(d, "UP", up.URL)) }
}

const inmemDoc = `
[log]
access = false
[admin]
listen = ""
[[upstreams]]
name = "api"
targets = ["UP"]
[[routes]]
path = "/v1/assets"
methods = ["GET", "POST"]
upstream = "api"
[[routes]]
path = "/v1/private"
methods = ["GET"]
upstream = "api"
auth = true
[[routes]]
path = "/v1/old"
methods = ["GET"]
gone = true
[[routes]]
path = "/v1/pot"
methods = ["GET"]
teapot = true
[[routes]]
path = "/v1/down"
methods = ["GET"]
upstream = "api"
maintenance = true
`

func TestStagesInProcess(t *testing.T) {
	g, c, parse := inmemGateway(t, func(up string) string { return strings.ReplaceAll(inmemDoc, "UP", up) })
	do := func(method, path string, headers ...string) (int, string) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI("http://gw.test" + path)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), string(resp.Body())
	}
	cases := []struct {
		name, method, path string
		headers            []string
		status             int
		body               string
	}{
		{"a route forwards", "GET", "/v1/assets", nil, 200, `"path":"/v1/assets"`},
		{"dot segments are removed before matching", "GET", "/v1/x/../assets", nil, 200, `"path":"/v1/assets"`},
		{"no route is 404", "GET", "/nope", nil, 404, `"code":"route_not_found"`},
		{"a method outside the route is 405", "DELETE", "/v1/assets", nil, 405, `"code":"method_not_allowed"`},
		{"an Accept that admits no produced type is 406", "GET", "/v1/assets", []string{"Accept", "text/html"}, 406, `"code":"not_acceptable"`},
		{"auth without a token is 401", "GET", "/v1/private", nil, 401, `"code":"missing_token"`},
		{"a wrong token is 401", "GET", "/v1/private", []string{"Authorization", "Bearer nope"}, 401, `"code":"invalid_token"`},
		{"a gone route is 410", "GET", "/v1/old", nil, 410, `"code":"endpoint_gone"`},
		{"a teapot route is 418", "GET", "/v1/pot", nil, 418, `"code":"teapot"`},
		{"a route in maintenance is 503", "GET", "/v1/down", nil, 503, `"code":"maintenance"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(tc.method, tc.path, tc.headers...)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Fatalf("%s %s: %d %s; want %d with %s", tc.method, tc.path, status, body, tc.status, tc.body)
			}
		})
	}
	t.Run("a reload adds a route for the next request", func(t *testing.T) {
		if err := g.Reload(parse(inmemDoc + "[[routes]]\npath = \"/v1/extra\"\nmethods = [\"GET\"]\nupstream = \"api\"\n")); err != nil {
			t.Fatal(err)
		}
		if status, body := do("GET", "/v1/extra", nil...); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	})
}

// A reload whose compile step fails anywhere (here: a body_schema that
// does not load, next to a new route and a changed policy) changes
// nothing: the running config and its routes stay, and the error lists
// the file's places.
func TestReloadRefusedByCompileChangesNothing(t *testing.T) {
	doc := inmemDoc + "[rate_limits.a]\nkey = \"ip\"\nrate = 1\nburst = 1\n"
	g, c, _ := inmemGateway(t, func(up string) string { return strings.ReplaceAll(doc, "UP", up) })
	before, rtBefore := g.Config(), g.rt.Load()
	next := strings.ReplaceAll(doc, "UP", before.Upstreams[0].Targets[0])
	cfg, err := config.Decode([]byte(strings.ReplaceAll(next, "burst = 1", "burst = 0")+
		"[[routes]]\npath = \"/v1/extra\"\nmethods = [\"GET\"]\nupstream = \"api\"\nbody_schema = \"/nonexistent/s.json\"\n"), "inmem.toml")
	if err != nil {
		t.Fatal(err)
	}
	err = g.Reload(cfg)
	var l *config.ErrorList
	if !errors.As(err, &l) || len(l.Errs) != 2 || !strings.Contains(l.Errs[0].Msg, "rate_limits.a.burst") || !strings.Contains(l.Errs[1].Msg, "routes[5].body_schema") {
		t.Fatalf("reload error %v", err)
	}
	if g.Config() != before || g.rt.Load() != rtBefore {
		t.Fatal("a refused reload changed the running config")
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://gw.test/v1/extra")
	if err := c.Do(req, resp); err != nil || resp.StatusCode() != 404 {
		t.Fatalf("the new route serves after a refused reload: %v %d", err, resp.StatusCode())
	}
}
