package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Client is the gateway's one connection to Redis ([store] redis_addrs,
// redis_password; README.md, "Several replicas: Redis"), shared by the
// rate limiter and the idempotency store: one address is a single Redis
// server, two or more the seed nodes of a Redis Cluster.
//
// It is rueidis, which pipelines the calls of concurrent requests on a
// few connections automatically (one write and one read system call for
// many calls instead of one each) and allocates less per call than
// go-redis (README.md, "Performance": both clients measured side by side
// on the rate-limit and the idempotency scripts).
//
// Start while Redis is down: rueidis dials at construction and gives no
// client when that fails. So Client makes its rueidis client on first use
// (Get), and again at most once a second while that fails; meanwhile
// every call fails at once (a store error: rate_limit_on_store_error
// decides a rate limit, an idempotent request gets 503 store_unavailable)
// and the gateway starts and serves. A single server's client is made even
// when the dial fails (ForceSingleClient) and reconnects by itself; a
// Cluster's needs a seed node that answers, so it is retried. Once made,
// the client reconnects on its own after an outage.
type Client struct {
	opt    rueidis.ClientOption
	conn   *Settings
	client atomic.Pointer[rueidisClient]

	mu      sync.Mutex
	next    time.Time // no new attempt before then
	lastErr error
	closed  bool
}

type rueidisClient struct{ rueidis.Client }

// redialInterval is the least time between two attempts to make the client.
const redialInterval = time.Second

// NewClient prepares a client for addrs; it does not connect. Each new
// connection authenticates with conn's running password and dials within
// its running timeout (store.redis_password and redis_timeout, which a
// reload changes); each call is bounded by the caller's deadline.
func NewClient(addrs []string, conn *Settings) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("redis: redis_addrs is empty: list at least one host:port")
	}
	return &Client{opt: rueidis.ClientOption{
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
		// A command marked retryable (the idempotency scripts, which are
		// safe to run twice) is retried once, at once, after a network
		// error: a connection that died with a Redis restart. Within the
		// call's deadline, like every attempt. The rate-limit script is
		// not retryable (it would take a token twice).
		RetryDelay: retryOnce,
		// A hung server's connections are dropped after this; each call
		// gave up at its own deadline long before.
		ConnWriteTimeout: CallCeiling,
	}, conn: conn}, nil
}

func retryOnce(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts > 1 {
		return -1
	}
	return 0
}

// Single reports whether the client is for a single server (not a
// Cluster), where one script call may touch any keys.
func (c *Client) Single() bool { return c.opt.ForceSingleClient }

// Get returns the rueidis client, making it if it is not made yet and the
// last attempt is over a second old.
func (c *Client) Get() (rueidis.Client, error) {
	if rc := c.client.Load(); rc != nil {
		return rc.Client, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc := c.client.Load(); rc != nil {
		return rc.Client, nil
	}
	if c.closed {
		return nil, errors.New("redis: client closed")
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
		c.lastErr = fmt.Errorf("redis: connect to %v: %w", c.opt.InitAddress, err)
		return nil, c.lastErr
	}
	// A single server's client comes back with the dial error and
	// reconnects by itself on the next call.
	c.client.Store(&rueidisClient{client})
	return client, nil
}

// made reports whether the rueidis client exists, for tests.
func (c *Client) made() bool { return c.client.Load() != nil }

// Close closes the connections. Calls after it fail.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if rc := c.client.Swap(nil); rc != nil {
		rc.Close()
	}
}

// Ping reports whether Redis answers, for readiness: the server, or every
// master of a Cluster (a replica down does not make the store unusable).
// ctx bounds it.
func (c *Client) Ping(ctx context.Context) error {
	client, err := c.Get()
	if err != nil {
		return err
	}
	if client.Mode() != rueidis.ClientModeCluster {
		return client.Do(ctx, client.B().Ping().Build()).Error()
	}
	nodes := client.Nodes()
	// The masters, from the first node that lists the slots.
	var slots []rueidis.RedisMessage
	var from string
	err = errors.New("no node known")
	for addr, n := range nodes {
		if slots, err = n.Do(ctx, n.B().ClusterSlots().Build()).ToArray(); err == nil {
			from = addr
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cluster slots: %w", err)
	}
	masters := map[string]bool{}
	for _, s := range slots {
		if addr, ok := slotMaster(s, from); ok {
			masters[addr] = true
		}
	}
	for addr := range masters {
		n, ok := nodes[addr]
		if !ok {
			return fmt.Errorf("master %s: not connected yet", addr)
		}
		if err := n.Do(ctx, n.B().Ping().Build()).Error(); err != nil {
			return fmt.Errorf("master %s: %w", addr, err)
		}
	}
	return nil
}

// slotMaster reads the master's address of one CLUSTER SLOTS entry
// (start, end, [host, port, id…], replicas…), an empty host being the
// answering node's, as rueidis reads it.
func slotMaster(s rueidis.RedisMessage, from string) (string, bool) {
	e, err := s.ToArray()
	if err != nil || len(e) < 3 {
		return "", false
	}
	m, err := e[2].ToArray()
	if err != nil || len(m) < 2 {
		return "", false
	}
	host, err := m[0].ToString()
	if err != nil || host == "?" {
		return "", false
	}
	port, err := m[1].AsInt64()
	if err != nil {
		return "", false
	}
	if host == "" {
		host, _, _ = net.SplitHostPort(from)
	}
	return net.JoinHostPort(host, strconv.FormatInt(port, 10)), true
}
