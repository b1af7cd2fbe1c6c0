package proxy

import (
	"context"
	"fmt"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/internal/redisconn"
)

// openStores builds the idempotency store of [store] backend: exact,
// bounded memory for one replica, or Redis (standalone with one address,
// Cluster with several) shared by replicas. In Redis mode the store and
// the rate limiter share one client (redisconn.Client), made on first use,
// so the gateway starts, and reports not ready, while Redis is down.
func (g *Gateway) openStores(cfg *config.Config, idc idempotency.Config) error {
	g.backend = string(cfg.Store.Backend)
	timeout := cfg.Store.RedisTimeout.D()
	g.redisConn = redisconn.New(cfg.Store.RedisPassword, timeout)
	if cfg.Store.Backend != "redis" {
		mem, err := idempotency.NewMemory(idc)
		if err != nil {
			return fmt.Errorf("idempotency store: %w", err)
		}
		g.idemMem, g.idem = mem, mem
		return nil
	}
	client, err := redisconn.NewClient(cfg.Store.RedisAddrs, g.redisConn)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	red, err := idempotency.NewRedis(client, idc)
	if err != nil {
		client.Close()
		return fmt.Errorf("idempotency store: %w", err)
	}
	// Replicas share buckets too; a store error follows
	// rate_limit_on_store_error (local, allow or deny).
	if err := g.lim.UseRedis(client, string(cfg.Store.RateLimitOnStoreError), timeout); err != nil {
		client.Close()
		return fmt.Errorf("rate limiter: %w", err)
	}
	g.redis, g.idemRed, g.idem = client, red, red
	return nil
}

// reconfigureIdem applies a checked idempotency config to the running store.
func (g *Gateway) reconfigureIdem(c idempotency.Config) error {
	if g.idemRed != nil {
		return g.idemRed.Reconfigure(c)
	}
	return g.idemMem.Reconfigure(c)
}

func noCancel() {}

// storeContext bounds one store call: redis_timeout for Redis, so a slow
// Redis costs a request at most that; nothing for the memory store.
func (g *Gateway) storeContext() (context.Context, context.CancelFunc) {
	if g.redis == nil {
		return context.Background(), noCancel
	}
	return context.WithTimeout(context.Background(), g.redisConn.Timeout())
}

// Ready reports whether the shared store answers (nil for the memory
// store), for the admin listener's /readyz.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.idemRed == nil {
		return nil
	}
	return g.idemRed.Ping(ctx)
}
