package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const minimal = `
[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]

[[routes]]
path = "/v1/assets"
methods = ["GET"]
upstream = "api"
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	u, r := c.Upstreams[0], c.Routes[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.listen", c.Server.Listen, "127.0.0.1:8080"},
		{"server.max_header_bytes", c.Server.MaxHeaderBytes, Size(16 << 10)},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, Size(1 << 20)},
		{"server.read_timeout", c.Server.ReadTimeout.D(), 10 * time.Second},
		{"server.tls_client_auth", c.Server.TLSClientAuth, ClientAuthOff},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:9901"},
		{"log.format", c.Log.Format, LogJSON},
		{"errors.keep_upstream_json", c.Errors.KeepUpstreamJSON, true},
		{"store.backend", c.Store.Backend, BackendMemory},
		{"store.memory_budget", c.Store.MemoryBudget, Size(128 << 20)},
		{"auth.realm", c.Auth.Realm, "cobaltgw"},
		{"idempotency.ttl", c.Idempotency.TTL.D(), 24 * time.Hour},
		{"idempotency.on_reuse", c.Idempotency.OnReuse, OnReuseConflict},
		{"upstream.retries", u.Retries, 1},
		{"upstream.max_conns", u.MaxConns, 1024},
		{"upstream.retry_budget", u.RetryBudget, 0.2},
		{"upstream.timeout", u.Timeout.D(), 30 * time.Second},
		{"route.forward_authorization", r.ForwardAuthorization, true},
		{"route.idempotency", r.Idempotency, true},
		{"route.produces", strings.Join(r.Produces, ","), "application/json"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestExplicitZeroesKept(t *testing.T) {
	c, err := Parse([]byte(`
[[upstreams]]
name = "api"
targets = ["http://127.0.0.1:9000"]
retries = 0
retry_budget = 0.0

[[routes]]
path = "/v1/*"
methods = ["GET"]
upstream = "api"
idempotency = false
forward_authorization = false
`), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstreams[0].Retries != 0 || c.Upstreams[0].RetryBudget != 0 || c.Routes[0].Idempotency || c.Routes[0].ForwardAuthorization {
		t.Fatalf("explicit zero values were replaced by defaults: %+v %+v", c.Upstreams[0], c.Routes[0])
	}
}

func TestSizes(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"16KiB", 16 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"10KB", 10000, true},
		{"512", 512, true},
		{"512B", 512, true},
		{"1 MiB", 1 << 20, true},
		{"-1", 0, false},
		{"lots", 0, false},
		{"1.5MiB", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	c, err := Parse([]byte("[server]\nmax_body_bytes = 2048\nmax_header_bytes = \"8KiB\"\n"), "c.toml")
	if err != nil || c.Server.MaxBodyBytes != 2048 || c.Server.MaxHeaderBytes != 8192 {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestErrorsHavePositions(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unknown top-level key", "nope = 1\n", `c.toml:1:1: unknown key "nope" at the top level`},
		{"unknown nested key", "[store]\nbackend = \"memory\"\nbakend = 1\n", `c.toml:3:1: unknown key "bakend" in [store]; did you mean "backend"?`},
		{"unknown key in a route", minimal + "strip = \"/v1\"\n", `c.toml:10:1: unknown key "strip" in routes[0]; did you mean "strip_prefix"?`},
		{"unknown key in a policy", "[rate_limits.a]\nkey = \"ip\"\nrate = 1\nburst = 1\nbrust = 2\n", `c.toml:5:1: unknown key "brust" in [rate_limits.a]; did you mean "burst"?`},
		{"bad enum", "[store]\nbackend = \"etcd\"\n", `c.toml:2:11: store.backend: "etcd" is not allowed; write one of "memory", "redis"`},
		{"policy without rate", "[rate_limits.a]\nkey = \"ip\"\nburst = 1\n", `c.toml:1:2: rate_limits.a: rate is required`},
		{"bad route path", "[[upstreams]]\nname = \"api\"\ntargets = [\"http://127.0.0.1:9\"]\n[[routes]]\npath = \"/a/../b\"\nmethods = [\"GET\"]\nupstream = \"api\"\n", `c.toml:5:1: routes[0].path: "/a/../b" must not contain dot segments`},
		{"BREW in methods", "[[routes]]\npath = \"/a\"\nmethods = [\"BREW\"]\nteapot = true\n", `c.toml:3:1: routes[0].methods: "BREW" always answers 418`},
		{"sunset before deprecation", "[[routes]]\npath = \"/a\"\nmethods = [\"GET\"]\ngone = true\ndeprecation = \"2030-01-01T00:00:00Z\"\nsunset = \"2029-01-01T00:00:00Z\"\n", `routes[0].sunset: is before deprecation`},
		{"trusted proxy not a CIDR", "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", `server.trusted_proxies: entry 1 "10.0.0.0/33" is not a CIDR`},
		{"tls half configured", "[server]\ntls_cert = \"a.pem\"\n", `c.toml:2:1: server.tls_cert: tls_cert and tls_key go together`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "c.toml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("GW_ADDR", "127.0.0.1:9999")
	t.Setenv("GW_PASS", "p$ss")
	c, err := Parse([]byte("[admin]\nlisten = \"$NOT_EXPANDED:1\"\n"), "c.toml")
	if err != nil || c.Admin.Listen != "$NOT_EXPANDED:1" {
		t.Fatalf("only ${NAME} expands: %v %q", err, c.Admin.Listen)
	}
	c, err = Parse([]byte("[server]\nlisten = \"${GW_ADDR}\"\n[store]\nredis_password = \"${GW_PASS}${UNSET_VAR_X:-}\"\n"), "c.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Listen != "127.0.0.1:9999" || c.Store.RedisPassword != "p$ss" {
		t.Fatalf("listen %q password %q", c.Server.Listen, c.Store.RedisPassword)
	}
}

// FuzzParse feeds arbitrary documents to the loader: it must return a
// config or an error, never panic, and every error must carry a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("[server]\nlisten = \"127.0.0.1:8080\"\nmax_body_bytes = \"1MiB\"\n"))
	f.Add([]byte("[rate_limits.per_ip]\nkey = \"ip\"\nrate = 50\nburst = 100\n"))
	f.Add([]byte("[errors.map]\n502 = 503\n"))
	f.Add([]byte("[[auth.tokens]]\nid = \"a\"\nsha256 = \"" + strings.Repeat("ab", 32) + "\"\n"))
	if b, err := os.ReadFile("../config.toml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc, "f.toml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
	})
}
