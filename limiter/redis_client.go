package limiter

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
)

// RedisClient is the rate limiter's connection to Redis (CONFIG.md
// `[store] redis_addrs`, `redis_password`): one address is a single Redis
// server, two or more the seed nodes of a Redis Cluster, as for the
// idempotency store.
//
// It is rueidis, not the go-redis client the idempotency store uses,
// because rate-limit scripts are the one Redis call of every limited
// request: rueidis pipelines the calls of concurrent requests on a few
// connections automatically (one write and one read system call for many
// requests instead of one each), and allocates 2 times per call against
// go-redis's 14. Measured side by side (README, "Several replicas: Redis"):
// 16 concurrent callers per core cost the client 13–16 µs of CPU per
// script call with rueidis against 31–32 µs with go-redis.
//
// Start while Redis is down: rueidis dials at construction and gives no
// client when that fails, where go-redis connects lazily. So RedisClient
// makes its rueidis client on first use, and again at most once a second
// while that fails; meanwhile every call fails at once (a store error:
// rate_limit_on_store_error decides) and the gateway starts and serves.
// A single server's client is made even when the dial fails
// (ForceSingleClient) and reconnects by itself; a Cluster's needs a seed
// node that answers, so it is retried. Once made, the client reconnects
// on its own after an outage.
type RedisClient struct {
	opt    rueidis.ClientOption
	conn   *redisconn.Settings
	client atomic.Pointer[rueidisClient]

	mu      sync.Mutex
	next    time.Time // no new attempt before then
	lastErr error
	closed  bool
}

type rueidisClient struct{ rueidis.Client }

// redialInterval is the least time between two attempts to make the client.
const redialInterval = time.Second

// NewRedisClient prepares a client for addrs; it does not connect. Each
// new connection authenticates with conn's running password and dials
// within its running timeout (store.redis_password and redis_timeout,
// which a reload changes); each call is bounded by the caller's deadline.
func NewRedisClient(addrs []string, conn *redisconn.Settings) (*RedisClient, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("limiter: redis_addrs is empty: list at least one host:port")
	}
	return &RedisClient{opt: rueidis.ClientOption{
		InitAddress: addrs,
		AuthCredentialsFn: func(rueidis.AuthCredentialsContext) (rueidis.AuthCredentials, error) {
			return rueidis.AuthCredentials{Password: conn.Password()}, nil
		},
		DialCtxFn: func(ctx context.Context, addr string, _ *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return conn.Dial(ctx, "tcp", addr)
		},
		// One address is a single server; with ForceSingleClient rueidis
		// neither probes for a Cluster nor gives up when the first dial
		// fails.
		ForceSingleClient: len(addrs) == 1,
		// No server-assisted client-side caching: every call is a script.
		DisableCache: true,
	}, conn: conn}, nil
}

// get returns the client, making it if it is not made yet and the last
// attempt is over a second old.
func (c *RedisClient) get() (rueidis.Client, error) {
	if rc := c.client.Load(); rc != nil {
		return rc.Client, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc := c.client.Load(); rc != nil {
		return rc.Client, nil
	}
	if c.closed {
		return nil, fmt.Errorf("limiter: redis client closed")
	}
	now := time.Now()
	if now.Before(c.next) {
		return nil, c.lastErr
	}
	c.next = now.Add(redialInterval)
	// rueidis connects here, outside any call's deadline: Dialer.Timeout
	// bounds that first connection's handshake (HELLO, AUTH), and later
	// ones' beyond the call's deadline, so it is the running redis_timeout
	// when the client is made.
	c.opt.Dialer.Timeout = c.conn.Timeout()
	client, err := rueidis.NewClient(c.opt)
	if client == nil {
		c.lastErr = fmt.Errorf("limiter: connect to redis %v: %w", c.opt.InitAddress, err)
		return nil, c.lastErr
	}
	// A single server's client comes back with the dial error and
	// reconnects by itself on the next call.
	c.client.Store(&rueidisClient{client})
	return client, nil
}

// Close closes the connections. Calls after it fail.
func (c *RedisClient) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if rc := c.client.Swap(nil); rc != nil {
		rc.Close()
	}
}

// ping checks that Redis answers, for tests.
func (c *RedisClient) ping(ctx context.Context) error {
	client, err := c.get()
	if err != nil {
		return err
	}
	return client.Do(ctx, client.B().Ping().Build()).Error()
}
