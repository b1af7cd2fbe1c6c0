package redisconn

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

func TestSettingsFollowSet(t *testing.T) {
	var zero Settings
	if zero.Password() != "" || zero.Timeout() != 0 {
		t.Fatalf("zero value: %q %v", zero.Password(), zero.Timeout())
	}
	s := New("a", time.Second)
	s.Set("b", 2*time.Second)
	if s.Password() != "b" || s.Timeout() != 2*time.Second {
		t.Fatalf("after Set: %q %v", s.Password(), s.Timeout())
	}
}

func TestDialUsesTheRunningTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New("", time.Nanosecond)
	if c, err := s.Dial(context.Background(), "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("dialed within 1ns")
	}
	s.Set("", time.Second)
	c, err := s.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("after Set to 1s: %v", err)
	}
	c.Close()
}

func TestNewClientNeedsAnAddress(t *testing.T) {
	if _, err := NewClient(nil, New("", time.Second)); err == nil {
		t.Fatal("NewClient without addresses")
	}
}

// A Cluster's client needs a seed node that answers: with none up no
// client is made, and the next attempt waits a second, while calls fail
// at once.
func TestClientClusterSeedsDownRetriedOnceASecond(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	a.Stop()
	b.Stop()
	c, err := NewClient([]string{a.Addr(), b.Addr()}, New("", 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Get(); err == nil {
		t.Fatal("a Cluster client with no seed node up")
	}
	start := time.Now()
	if _, err := c.Get(); err == nil || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("second Get: %v after %v, want the last error at once", err, time.Since(start))
	}
	if c.made() {
		t.Fatal("a client was made with no seed node up")
	}
	c.mu.Lock()
	wait := time.Until(c.next)
	c.mu.Unlock()
	if wait <= 0 || wait > redialInterval {
		t.Fatalf("next attempt in %v", wait)
	}
}

// A single server's client is made while the server is down, fails its
// calls within their deadline, and answers once the server is up.
func TestClientSingleServerStartsWhileDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	c, err := NewClient([]string{srv.Addr()}, New("", 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("Ping answered with the server down")
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after the server came up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ping in a Cluster asks every master.
func TestClientPingCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	c, err := NewClient(cl.Addrs(), New("", 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Nodes[1].Stop()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := c.Ping(ctx2); err == nil {
		t.Fatal("Ping answered with a master down")
	}
}
