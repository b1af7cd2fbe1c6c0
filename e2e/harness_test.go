// Package e2e tests the real cobaltgw binary over loopback sockets, in
// front of real upstream servers, as a client would see it.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cobaltgw-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cobaltgw")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the gateway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output for assertions and failure logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a running cobaltgw process.
type gateway struct {
	t       *testing.T
	addr    string
	cfgPath string
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan error
}

// startGateway writes cfg (a TOML text) to a temp dir and runs the binary
// on it. The config should listen on 127.0.0.1:0; the address is read from
// the "listening" log line.
func startGateway(t *testing.T, cfg string) *gateway {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGatewayFile(t, path)
}

func startGatewayFile(t *testing.T, path string, env ...string) *gateway {
	t.Helper()
	g := &gateway{t: t, cfgPath: path, out: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(binary, "-config", path)
	g.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	g.cmd.Stdout = io.MultiWriter(g.out, pw)
	g.cmd.Stderr = g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait(); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				sent = true
			}
		}
	}()
	select {
	case a := <-addr:
		g.addr = a
	case err := <-g.done:
		t.Fatalf("gateway exited before listening: %v\n%s", err, g.out.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway did not start\n%s", g.out.String())
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway output:\n%s", g.out.String())
		}
	})
	return g
}

func (g *gateway) signal(sig syscall.Signal) {
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatal(err)
	}
}

// stop sends SIGTERM and waits for the exit.
func (g *gateway) stop() {
	if g.cmd.ProcessState != nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

var client = &http.Client{
	Timeout:   15 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// response is a finished exchange.
type response struct {
	*http.Response
	body []byte
}

func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends a request; headers are "Name: value" strings.
func (g *gateway) do(t *testing.T, method, path, body string, headers ...string) *response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.url(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &response{resp, b}
}

// raw writes a raw request on a new connection and returns the raw
// response head and body (until the server closes or 5 s pass).
func (g *gateway) raw(t *testing.T, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var head strings.Builder
	fmt.Fprintf(&head, "%d\n", resp.StatusCode)
	for k, vs := range resp.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\n", k, v)
		}
	}
	return head.String() + "\n" + string(b)
}

// rawResponse parses raw()'s output.
func rawStatus(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func rawBody(s string) string {
	_, b, _ := strings.Cut(s, "\n\n")
	return b
}

// assertProblem checks the contract body and headers of an error.
func assertProblem(t *testing.T, r *response, status int, code string) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" && ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/json or application/problem+json", ct)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", cc)
	}
	rid := r.Header.Get("X-Request-Id")
	if rid == "" {
		t.Fatal("no X-Request-Id header")
	}
	if r.Request != nil && r.Request.Method == http.MethodHead {
		if len(r.body) != 0 {
			t.Fatalf("HEAD response has a body: %q", r.body)
		}
		return nil
	}
	m := r.json(t)
	if m["status"] != float64(status) {
		t.Fatalf("body status = %v, want %d", m["status"], status)
	}
	if m["code"] != code {
		t.Fatalf("body code = %v, want %q; body %s", m["code"], code, r.body)
	}
	if m["request_id"] != rid {
		t.Fatalf("body request_id = %v, header X-Request-Id = %q", m["request_id"], rid)
	}
	for _, k := range []string{"title", "detail"} {
		if s, _ := m[k].(string); s == "" {
			t.Fatalf("body %s is empty: %s", k, r.body)
		}
	}
	return m
}

// upstream is a real HTTP server on loopback for the gateway to proxy to.
type upstream struct {
	addr  string
	srv   *http.Server
	count atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	body  []byte
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.last, u.body = r, b
		u.mu.Unlock()
		h(w, r)
	})}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *upstream) lastRequest() (*http.Request, []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last, u.body
}

// echo answers 200 with a JSON description of the request.
func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "host": r.Host})
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// baseConfig is a minimal config in front of upstream address up; extra is
// appended (more routes, policies).
func baseConfig(up, extra string) string {
	return fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
[admin]
listen = ""
[log]
format = "json"
access = true

[[upstreams]]
name = "api"
targets = ["http://%s"]
connect_timeout = "500ms"
timeout = "2s"
eject_after = 1000 # these tests send many 5xx on purpose; ejection has its own tests

[[routes]]
path = "/v1/assets"
methods = ["GET", "POST"]
upstream = "api"

[[routes]]
path = "/v1/assets/*"
methods = ["GET", "PUT", "DELETE"]
upstream = "api"
%s`, up, extra)
}
