package upstream

import (
	"net"
	"testing"
	"time"
)

// TestIdleConnSilence: an armed idleConn never cuts a transfer that keeps
// moving, however long it lasts, and cuts a silence after idle (plus at
// most idle/16, since deadlines are moved coarsely).
func TestIdleConnSilence(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()

	const idle = 200 * time.Millisecond
	c := &idleConn{Conn: raw, idle: idle, armed: true}
	// fasthttp's absolute deadline is ignored once armed.
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))

	go func() {
		for i := 0; i < 10; i++ { // 10 x 60 ms: a transfer longer than idle
			time.Sleep(60 * time.Millisecond)
			if _, err := peer.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	for i := 0; i < 10; i++ {
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("read %d of a moving transfer: %v", i, err)
		}
	}
	start := time.Now()
	_, err = c.Read(buf)
	waited := time.Since(start)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("silence: %v, want a timeout", err)
	}
	if waited < idle || waited > idle+idle/16+100*time.Millisecond {
		t.Fatalf("silence cut after %v, want between %v and about %v", waited, idle, idle+idle/16)
	}
}
