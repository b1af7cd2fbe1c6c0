package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// A reload whose file adds a route and names a TLS key that does not load
// is refused whole: the old certificate keeps serving, the new route does
// not appear (404), and the refusal is logged and counted
// (docs/configuration.md, "Reload").
func TestReloadAllOrNothing(t *testing.T) {
	ca := newCA(t, "test ca")
	up := newUpstream(t, echo)
	g, dir := tlsGateway(t, ca, up.addr, "off", "")
	client := tlsClient(ca, nil, 0)
	r, _ := get(t, client, "https://"+g.addr+"/v1/assets")
	if r.StatusCode != 200 {
		t.Fatalf("before: %d", r.StatusCode)
	}
	serial := r.TLS.PeerCertificates[0].SerialNumber.Int64()

	cfg, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "broken.key", []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"))
	next := strings.Replace(string(cfg), `tls_key = "server.key"`, `tls_key = "broken.key"`, 1) + extraRoute
	replaceFile(t, g.cfgPath, next)
	g.signal(syscall.SIGHUP)
	eventually(t, "the refusal to be logged", func() bool { return strings.Contains(g.out.String(), "reload refused") })
	if !strings.Contains(g.out.String(), "broken.key") {
		t.Fatalf("the refusal does not name the key file:\n%s", g.out.String())
	}
	// The compile step (the prepare of the reload) refused it, at the key
	// in the file, before anything was applied.
	if !regexp.MustCompile(regexp.QuoteMeta(g.cfgPath) + `:\d+:\d+: server\.tls_cert: `).MatchString(g.out.String()) {
		t.Fatalf("the refusal does not point at server.tls_cert as file:line:col:\n%s", g.out.String())
	}
	r, body := get(t, client, "https://"+g.addr+"/v1/extra")
	if r.StatusCode != 404 || !strings.Contains(string(body), "route_not_found") {
		t.Fatalf("new route after a refused reload: %d %s", r.StatusCode, body)
	}
	r, _ = get(t, client, "https://"+g.addr+"/v1/assets")
	if r.StatusCode != 200 || r.TLS.PeerCertificates[0].SerialNumber.Int64() != serial {
		t.Fatalf("old config not serving whole: %d", r.StatusCode)
	}

	// The same file with the good key: the route appears.
	replaceFile(t, g.cfgPath, string(cfg)+extraRoute)
	g.signal(syscall.SIGHUP)
	eventually(t, "the new route", func() bool {
		r, _ := get(t, client, "https://"+g.addr+"/v1/extra")
		return r.StatusCode == 200
	})
}

// A reload that changes restart-only keys logs one warning naming each,
// keeps the running listener, and applies every other key.
func TestReloadRestartOnlyKeysWarnOnce(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGatewayFile(t, writeConfig(t, opsConfig(up.addr, "", "")))
	cfg, err := os.ReadFile(g.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(cfg), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", deadAddr(t)), 1)
	next = strings.Replace(next, "[admin]\n", "[store]\nmemory_budget = \"64MiB\"\nredis_timeout = \"80ms\"\n[admin]\n", 1)
	next += extraRoute
	replaceFile(t, g.cfgPath, next)
	g.signal(syscall.SIGHUP)
	eventually(t, "the new route", func() bool { return g.do(t, "GET", "/v1/extra", "").StatusCode == 200 })
	out := g.out.String()
	if n := strings.Count(out, "take effect only at the next start"); n != 1 {
		t.Fatalf("%d restart-only warnings, want 1:\n%s", n, out)
	}
	for _, k := range []string{"server.listen", "store.memory_budget"} {
		if !strings.Contains(out, k) {
			t.Errorf("warning does not name %s:\n%s", k, out)
		}
	}
	if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
		t.Fatalf("the running listener stopped serving: %d", r.StatusCode)
	}
}
