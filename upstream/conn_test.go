package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawTarget is a raw TCP upstream: serve runs per request with the
// connection's number (from 1) and the request's number on it (from 1),
// and returns false to stop reading from the connection. It counts the
// requests it read, by method.
type rawTarget struct {
	addr  string
	mu    sync.Mutex
	seen  map[string]int
	conns atomic.Int64
}

func startRaw(t testing.TB, serve func(conn, nth int, c *net.TCPConn, r *http.Request) bool) *rawTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := &rawTarget{addr: ln.Addr().String(), seen: map[string]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(rt.conns.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for nth := 1; ; nth++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					rt.mu.Lock()
					rt.seen[r.Method]++
					rt.mu.Unlock()
					if !serve(n, nth, c.(*net.TCPConn), r) {
						return
					}
				}
			}()
		}
	}()
	return rt
}

func (rt *rawTarget) URL() string { return "http://" + rt.addr }

func (rt *rawTarget) count(method string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.seen[method]
}

func answer(c net.Conn) bool {
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return err == nil
}

// reset closes c with a TCP RST (SO_LINGER 0).
func reset(c *net.TCPConn) bool {
	_ = c.SetLinger(0)
	_ = c.Close()
	return false
}

// TestStaleKeepAliveConnectionIsResent: a one-target upstream that closes
// each keep-alive connection soon after answering (as Node.js does after
// its 5 s keepAliveTimeout). The next request finds its pooled connection
// closed before writing and goes out on a new one: a POST too, once.
func TestStaleKeepAliveConnectionIsResent(t *testing.T) {
	rt := startRaw(t, func(_, _ int, c *net.TCPConn, _ *http.Request) bool {
		answer(c)
		time.Sleep(20 * time.Millisecond) // idle, then closed by the upstream
		return false
	})
	cfg := testConfig(rt.URL())
	cfg.Retries = 0 // a resend on a stale connection is not a retry
	p := newPool(t, cfg)
	for i, m := range []string{"GET", "POST", "PATCH", "GET"} {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		res, code := get(p, m, time.Now().Add(5*time.Second))
		if res.Outcome != OK || code != 200 {
			t.Fatalf("%s #%d: %+v %d", m, i, res, code)
		}
	}
	st := p.Stats()
	if rt.count("POST") != 1 || rt.count("PATCH") != 1 || rt.count("GET") != 2 || st.StaleConns != 3 {
		t.Fatalf("upstream saw %v; stale connections %d, want 3", rt.seen, st.StaleConns)
	}
	if st.RetriesOK+st.RetriesFailed != 0 || st.Targets[0].LastError != "" {
		t.Fatalf("a stale connection counted as a retry or a failure: %+v", st)
	}
}

// TestResetBeforeFirstByteOnPooledConnection: a one-target upstream reads
// the second request on a keep-alive connection and resets it (it closed
// just as the request arrived). A GET goes again on a new connection to
// the same target; a POST is never sent twice.
func TestResetBeforeFirstByteOnPooledConnection(t *testing.T) {
	rt := startRaw(t, func(_, nth int, c *net.TCPConn, _ *http.Request) bool {
		if nth == 2 {
			return reset(c)
		}
		return answer(c)
	})
	p := newPool(t, testConfig(rt.URL()))
	if res, code := get(p, "GET", time.Now().Add(5*time.Second)); res.Outcome != OK || code != 200 {
		t.Fatalf("first GET: %+v", res)
	}
	res, code := get(p, "GET", time.Now().Add(5*time.Second))
	if res.Outcome != OK || code != 200 || res.Attempts != 2 || rt.count("GET") != 3 {
		t.Fatalf("GET reset on a pooled connection: %+v %d, upstream saw %v", res, code, rt.seen)
	}
	// The retry's connection has served one request; the next one on it
	// is reset after it is read.
	res, _ = get(p, "POST", time.Now().Add(5*time.Second))
	if res.Outcome != BadResponse || res.Attempts != 1 || rt.count("POST") != 1 {
		t.Fatalf("POST reset after it was read: %+v, upstream saw %v", res, rt.seen)
	}
}

// TestResetBeforeFirstByteGoesToAnotherTarget: with two targets, a GET
// reset before any response byte is retried on the other; a POST is not.
// A fresh connection reset by the only target is not retried.
func TestResetBeforeFirstByteGoesToAnotherTarget(t *testing.T) {
	bad := startRaw(t, func(_, _ int, c *net.TCPConn, _ *http.Request) bool { return reset(c) })
	good := startRaw(t, func(_, _ int, c *net.TCPConn, _ *http.Request) bool { return answer(c) })
	cfg := testConfig(bad.URL(), good.URL())
	cfg.EjectAfter = 1000
	p := newPool(t, cfg)
	posts500 := 0
	for range 6 {
		if res, code := get(p, "GET", time.Now().Add(5*time.Second)); res.Outcome != OK || code != 200 {
			t.Fatalf("GET: %+v", res)
		}
	}
	for range 6 {
		if res, _ := get(p, "POST", time.Now().Add(5*time.Second)); res.Outcome == BadResponse {
			if res.Attempts != 1 {
				t.Fatalf("POST: %+v", res)
			}
			posts500++
		}
	}
	if bad.count("GET") == 0 || posts500 == 0 || bad.count("POST")+good.count("POST") != 6 {
		t.Fatalf("bad saw %v, good saw %v, %d POSTs failed", bad.seen, good.seen, posts500)
	}

	only := startRaw(t, func(_, _ int, c *net.TCPConn, _ *http.Request) bool { return reset(c) })
	p1 := newPool(t, testConfig(only.URL()))
	if res, _ := get(p1, "GET", time.Now().Add(5*time.Second)); res.Outcome != BadResponse || res.Attempts != 1 || only.count("GET") != 1 {
		t.Fatalf("fresh connection reset by the only target: %+v, it saw %v", res, only.seen)
	}
}

// TestLivenessCheckWindow: a pooled connection is checked before reuse
// only when its previous exchange started more than recentUse ago (the
// check is a system call per request under load otherwise).
func TestLivenessCheckWindow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (*conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return newConn(c), <-accepted
	}
	for _, tc := range []struct {
		name      string
		idle      time.Duration
		wantStale bool
	}{
		{"reused at once: not checked", 0, false},
		{"idle past the window: checked", recentUse + 50*time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := dial()
			defer c.Close()
			if _, err := c.Write([]byte("x")); err != nil { // first exchange
				t.Fatal(err)
			}
			c.phase = phaseIdle // the exchange is over
			peer.Close()        // the upstream closes the idle connection
			time.Sleep(tc.idle + 10*time.Millisecond)
			if tc.idle == 0 {
				c.lastStart = int64(time.Since(clockStart)) // as if it had just started
			}
			_, err := c.Write([]byte("y"))
			if stale := err == errStaleConn; stale != tc.wantStale {
				t.Fatalf("stale = %v (err %v), want %v", stale, err, tc.wantStale)
			}
		})
	}
}
