package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// writeConfig writes cfg to a new temp dir and returns its path.
func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile writes cfg next to path and renames it over path, as
// editors and config management do.
func replaceFile(t *testing.T, path, cfg string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 20ms for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const extraRoute = `
[[routes]]
path = "/v1/extra"
methods = ["GET"]
upstream = "api"
`

func TestOpsSIGHUPWithBrokenFileKeepsServing(t *testing.T) {
	up := newUpstream(t, echo)
	cfg := opsConfig(up.addr, "", "")
	g := startGatewayFile(t, writeConfig(t, cfg))
	if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
		t.Fatalf("before: %d", r.StatusCode)
	}
	// An unknown key on line 3 of the new file.
	replaceFile(t, g.cfgPath, "[server]\nlisten = \"127.0.0.1:0\"\nmax_concurent = 5\n")
	g.signal(syscall.SIGHUP)
	eventually(t, "the refusal to be logged", func() bool { return strings.Contains(g.out.String(), "reload refused") })
	if !regexp.MustCompile(`config\.toml:3:1: unknown key \\"max_concurent\\" in \[server\]`).MatchString(g.out.String()) {
		t.Fatalf("the refusal does not name file:line:col:\n%s", g.out.String())
	}
	for i := 0; i < 3; i++ {
		if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
			t.Fatalf("after a refused reload: %d", r.StatusCode)
		}
	}
	m := g.scrape(t)
	if m[`cobaltgw_config_reloads_total{result="error"}`] != 1 || m[`cobaltgw_config_reloads_total{result="ok"}`] != 0 ||
		m[`cobaltgw_config_last_reload_successful`] != 0 {
		t.Fatalf("reload metrics: error=%v ok=%v last=%v", m[`cobaltgw_config_reloads_total{result="error"}`],
			m[`cobaltgw_config_reloads_total{result="ok"}`], m[`cobaltgw_config_last_reload_successful`])
	}
	if resp, _ := g.admin(t, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("a refused reload made the gateway unready: %d", resp.StatusCode)
	}
}

func TestOpsSIGHUPAppliesNewRoute(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGatewayFile(t, writeConfig(t, opsConfig(up.addr, "", "")))
	assertProblem(t, g.do(t, "GET", "/v1/extra", ""), 404, "route_not_found")
	replaceFile(t, g.cfgPath, opsConfig(up.addr, "", extraRoute))
	g.signal(syscall.SIGHUP)
	eventually(t, "the new route", func() bool { return g.do(t, "GET", "/v1/extra", "").StatusCode == 200 })
	if m := g.scrape(t); m[`cobaltgw_config_reloads_total{result="ok"}`] != 1 {
		t.Fatalf("reloads ok = %v", m[`cobaltgw_config_reloads_total{result="ok"}`])
	}
}

func TestOpsWatchPicksUpFileChange(t *testing.T) {
	up := newUpstream(t, echo)
	path := writeConfig(t, opsConfig(up.addr, "watch = true\n", ""))
	if out, code := runCLI(t, "", "validate", "-config", path); code != 0 {
		t.Fatalf("validate: %s", out)
	}
	g := startGatewayFile(t, path)
	assertProblem(t, g.do(t, "GET", "/v1/extra", ""), 404, "route_not_found")
	replaceFile(t, path, opsConfig(up.addr, "watch = true\n", extraRoute))
	eventually(t, "the watched change", func() bool { return g.do(t, "GET", "/v1/extra", "").StatusCode == 200 })

	// A broken edit is refused once and the running config keeps serving.
	replaceFile(t, path, opsConfig(up.addr, "watch = true\n", extraRoute)+"\n[[routes]]\npath = \"nope\"\n")
	eventually(t, "the refusal", func() bool { return strings.Contains(g.out.String(), "reload refused") })
	time.Sleep(1500 * time.Millisecond) // more than a poll: the same bad file is not reported again
	if n := strings.Count(g.out.String(), "reload refused"); n != 1 {
		t.Fatalf("the bad file was reported %d times", n)
	}
	if r := g.do(t, "GET", "/v1/extra", ""); r.StatusCode != 200 {
		t.Fatalf("after a refused change: %d", r.StatusCode)
	}
}

// TestOpsReloadsUnderLoadDropNothing: 8 clients send requests without
// pause while the config is reloaded 5 times, adding and removing a route
// and changing idle_timeout each time; every request to the stable route
// gets 200.
func TestOpsReloadsUnderLoadDropNothing(t *testing.T) {
	up := newUpstream(t, echo)
	g := startGatewayFile(t, writeConfig(t, opsConfig(up.addr, "", "")))
	var (
		stop      atomic.Bool
		ok, bad   atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		failures  []string
		loadCl    = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		recordBad = func(s string) {
			bad.Add(1)
			mu.Lock()
			if len(failures) < 5 {
				failures = append(failures, s)
			}
			mu.Unlock()
		}
	)
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := loadCl.Get(g.url("/v1/assets"))
				if err != nil {
					recordBad(err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					recordBad(resp.Status)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		extra := ""
		if i%2 == 0 {
			extra = extraRoute
		}
		// A new idle_timeout each time: new connections go to a new
		// fasthttp server and the old one drains its keep-alive ones.
		replaceFile(t, g.cfgPath, opsConfig(up.addr, fmt.Sprintf("idle_timeout = \"%ds\"\n", 50+i), extra))
		g.signal(syscall.SIGHUP)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d failed requests of %d (first: %v)", bad.Load(), bad.Load()+ok.Load(), failures)
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests in 1.8s: the load did not run", ok.Load())
	}
	eventually(t, "5 reloads", func() bool { return g.scrape(t)[`cobaltgw_config_reloads_total{result="ok"}`] == 5 })
	t.Logf("%d requests, 0 failed, across 5 reloads", ok.Load())
}
