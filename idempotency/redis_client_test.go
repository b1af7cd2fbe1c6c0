package idempotency

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
	"github.com/cobaltgw/cobaltgw/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The client library's part of the tests: building a store on a client.

func newRedisStore(t testing.TB, addrs []string, cfg Config, timeout time.Duration) *Redis {
	t.Helper()
	c := redis.NewUniversalClient(RedisOptions(addrs, redisconn.New("", timeout)))
	t.Cleanup(func() { c.Close() })
	s, err := NewRedis(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRedisRequiresContextTimeout(t *testing.T) {
	opts := RedisOptions([]string{"127.0.0.1:1"}, redisconn.New("", time.Second))
	opts.ContextTimeoutEnabled = false
	c := redis.NewUniversalClient(opts)
	defer c.Close()
	if _, err := NewRedis(c, testConfig(ModeConflict)); err == nil {
		t.Fatal("accepted a client that ignores ctx deadlines")
	}
	cfg := testConfig(ModeConflict)
	cfg.MemoryBudget = 0 // not the Redis store's concern
	opts.ContextTimeoutEnabled = true
	c2 := redis.NewUniversalClient(opts)
	defer c2.Close()
	if _, err := NewRedis(c2, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.TTL = 0
	if _, err := NewRedis(c2, cfg); err == nil {
		t.Fatal("accepted ttl 0")
	}
}

// One node of a cluster given as a single address makes a single-node
// client (RedisOptions): its MOVED replies must say what to configure.
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
