package redistest

import (
	"strings"
	"testing"
)

func TestServerRestartKeepsAddressAndLosesData(t *testing.T) {
	s := Start(t)
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Do("GET", "k"); v != "v" {
		t.Fatalf("GET = %q", v)
	}
	addr := s.Addr()
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restart moved the server from %s to %s", addr, s.Addr())
	}
	if v, _ := s.Do("GET", "k"); v != "" {
		t.Fatalf("GET after restart = %q, want nothing (no persistence)", v)
	}
	if _, err := s.Do("NOSUCHCOMMAND"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("error reply: %v", err)
	}
}

func TestClusterIsOK(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Addrs()) != 3 {
		t.Fatal(c.Addrs())
	}
	for _, n := range c.Nodes {
		if got := n.Info("cluster", "cluster_enabled"); got != "1" {
			t.Fatalf("%s cluster_enabled = %q", n.Addr(), got)
		}
	}
}
