package e2e

import (
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowUpstream answers /v1/assets/slow after d, everything else at once.
func slowUpstream(t *testing.T, d time.Duration) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			time.Sleep(d)
		}
		echo(w, r)
	})
}

// exitCode waits for the gateway to exit (up to d) and returns its code.
func (g *gateway) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-g.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("the gateway did not exit within %s\n%s", d, g.out.String())
		return -1
	}
}

// inFlight starts a request in the background; its response arrives on
// the returned channel (nil on a transport error).
func inFlight(g *gateway, path string) <-chan *http.Response {
	ch := make(chan *http.Response, 1)
	go func() {
		resp, err := client.Get(g.url(path))
		if err != nil {
			ch <- nil
			return
		}
		resp.Body.Close()
		ch <- resp
	}()
	return ch
}

// TestOpsDrainFinishesInFlightRequest: SIGTERM while a 1.5s request is in
// flight: readiness turns 503 at once, new connections are refused, the
// request completes with 200 and Connection: close, and the process exits 0.
func TestOpsDrainFinishesInFlightRequest(t *testing.T) {
	up := slowUpstream(t, 1500*time.Millisecond)
	g := startGateway(t, opsConfig(up.addr, "", ""))
	if resp, body := g.admin(t, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("/readyz before the drain: %d %s", resp.StatusCode, body)
	}
	adminAddr := g.adminAddr(t)
	done := inFlight(g, "/v1/assets/slow")
	eventually(t, "the request to reach the upstream", func() bool { return up.count.Load() == 1 })

	start := time.Now()
	g.signal(syscall.SIGTERM)
	eventually(t, "/readyz to turn 503", func() bool {
		resp, err := client.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			t.Fatalf("the admin listener closed before the drain ended: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	eventually(t, "the client listener to close", func() bool {
		c, err := net.DialTimeout("tcp", g.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})

	resp := <-done
	if resp == nil {
		t.Fatal("the in-flight request failed")
	}
	if resp.StatusCode != 200 {
		t.Fatalf("the in-flight request got %d", resp.StatusCode)
	}
	if !resp.Close {
		t.Fatal("the response during the drain lacks Connection: close")
	}
	if code := g.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after a clean drain\n%s", code, g.out.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the drain took %s for a request with 1.5s left", took)
	}
}

// TestOpsSecondSignalExitsAtOnce: a second SIGTERM or SIGINT during the
// drain exits at once, non-zero, without waiting for the request.
func TestOpsSecondSignalExitsAtOnce(t *testing.T) {
	up := slowUpstream(t, 5*time.Second)
	g := startGateway(t, opsConfig(up.addr, "", "")) // the drain would wait up to the upstream timeout, 2s
	_ = inFlight(g, "/v1/assets/slow")
	eventually(t, "the request to reach the upstream", func() bool { return up.count.Load() == 1 })
	g.signal(syscall.SIGTERM)
	eventually(t, "the drain to start", func() bool { return strings.Contains(g.out.String(), `"msg":"draining"`) })
	start := time.Now()
	g.signal(syscall.SIGINT)
	if code := g.exitCode(t, 5*time.Second); code == 0 {
		t.Fatal("exit code 0 after an interrupted drain")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the second signal took %s to stop the process", took)
	}
}

// TestOpsMaxConcurrentSheds: beyond max_concurrent requests in flight the
// gateway answers 503 overloaded with Retry-After, and counts it.
func TestOpsMaxConcurrentSheds(t *testing.T) {
	up := slowUpstream(t, time.Second)
	g := startGateway(t, opsConfig(up.addr, "max_concurrent = 2\n", ""))
	a, b := inFlight(g, "/v1/assets/slow"), inFlight(g, "/v1/assets/slow")
	eventually(t, "two requests in flight", func() bool { return up.count.Load() == 2 })
	r := g.do(t, "GET", "/v1/assets", "")
	m := assertProblem(t, r, 503, "overloaded")
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	if m["retry_after"] == nil {
		t.Fatalf("body lacks retry_after: %s", r.body)
	}
	for _, ch := range []<-chan *http.Response{a, b} {
		if resp := <-ch; resp == nil || resp.StatusCode != 200 {
			t.Fatalf("an admitted request failed: %v", resp)
		}
	}
	if r := g.do(t, "GET", "/v1/assets", ""); r.StatusCode != 200 {
		t.Fatalf("after the load: %d", r.StatusCode)
	}
	s := g.scrape(t)
	if n := s[`cobaltgw_requests_total{route="(none)",method="GET",status="503",code="overloaded"}`]; n != 1 {
		t.Fatalf("overloaded count = %v", n)
	}
}
