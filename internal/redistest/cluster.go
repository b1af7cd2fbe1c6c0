package redistest

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, all on 127.0.0.1.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' host:port, a seed list for a cluster client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// StartCluster starts masters redis-server nodes in cluster mode, joins
// them with redis-cli --cluster create (slots split evenly, no replicas)
// and waits until every node reports cluster_state:ok. Redis Cluster needs
// at least three masters.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	skipWithoutRedis(t)
	if masters < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed: apt-get install redis-tools")
	}
	c := &Cluster{}
	for range masters {
		s := &Server{t: t, port: clusterPort(t), dir: t.TempDir()}
		s.extra = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		}
		t.Cleanup(s.Stop)
		s.start()
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.Nodes {
		for {
			info, err := n.do(time.Second, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: node %s not ok within %v: %q, %v", n.Addr(), startTimeout, info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// clusterPort finds a free port p whose cluster bus port p+10000 is free
// too (Redis before 7.0 has no cluster-port setting; the bus is always
// p+10000).
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := freePort(t)
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+10000)))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("redistest: no free port pair p, p+10000")
	return 0
}
