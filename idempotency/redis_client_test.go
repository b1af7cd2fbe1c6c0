package idempotency

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// The client library's part of the tests: building a store on a client.

func newRedisStore(t testing.TB, addrs []string, cfg Config, timeout time.Duration) *Redis {
	t.Helper()
	c, err := redisconn.NewClient(addrs, redisconn.New("", timeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s, err := NewRedis(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRedisValidates(t *testing.T) {
	c, err := redisconn.NewClient([]string{"127.0.0.1:1"}, redisconn.New("", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := NewRedis(nil, testConfig(ModeConflict)); err == nil {
		t.Fatal("accepted a nil client")
	}
	cfg := testConfig(ModeConflict)
	cfg.MemoryBudget = 0 // not the Redis store's concern
	if _, err := NewRedis(c, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.TTL = 0
	if _, err := NewRedis(c, cfg); err == nil {
		t.Fatal("accepted ttl 0")
	}
}

// One node of a cluster given as a single address makes a single-node
// client (redisconn.NewClient): its MOVED replies must say what to configure.
func TestRedisOneAddressOfAClusterSaysToListTheNodes(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	single := newRedisStore(t, cl.Addrs()[:1], testConfig(ModeConflict), opTimeout)
	var err error
	for i := 0; err == nil && i < 30; i++ {
		_, err = single.Claim(ctx, time.Time{}, scopeOf("client-b", fmt.Sprintf("k%d", i)), fpA)
	}
	if !errors.Is(err, ErrStoreUnavailable) || !strings.Contains(err.Error(), "list two or more nodes") {
		t.Fatalf("standalone client on a cluster node: %v", err)
	}
}
