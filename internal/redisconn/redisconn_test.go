package redisconn

import (
	"context"
	"net"
	"testing"
	"time"
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
