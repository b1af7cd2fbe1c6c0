package proxy

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cobaltgw/cobaltgw/config"
	"github.com/cobaltgw/cobaltgw/idempotency"
	"github.com/cobaltgw/cobaltgw/limiter"
)

// openStores builds the idempotency store of [store] backend: exact,
// bounded memory for one replica, or Redis (standalone with one address,
// Cluster with several) shared by replicas. The Redis client connects
// lazily, so the gateway starts, and reports not ready, while Redis is down.
func (g *Gateway) openStores(cfg *config.Config, idc idempotency.Config) error {
	g.backend = string(cfg.Store.Backend)
	timeout := cfg.Store.RedisTimeout.D()
	g.redisTimeout.Store(int64(timeout))
	if cfg.Store.Backend != "redis" {
		mem, err := idempotency.NewMemory(idc)
		if err != nil {
			return fmt.Errorf("idempotency store: %w", err)
		}
		g.idemMem, g.idem = mem, mem
		return nil
	}
	g.redis = redis.NewUniversalClient(idempotency.RedisOptions(cfg.Store.RedisAddrs, cfg.Store.RedisPassword, timeout))
	red, err := idempotency.NewRedis(g.redis, idc)
	if err != nil {
		_ = g.redis.Close()
		return fmt.Errorf("idempotency store: %w", err)
	}
	g.idemRed, g.idem = red, red
	// Replicas share buckets too; a store error follows
	// rate_limit_on_store_error (local, allow or deny). The limiter has a
	// pipelining client of its own (limiter.RedisClient), made lazily too.
	g.limRedis, err = limiter.NewRedisClient(cfg.Store.RedisAddrs, cfg.Store.RedisPassword, timeout)
	if err == nil {
		err = g.lim.UseRedis(g.limRedis, string(cfg.Store.RateLimitOnStoreError), timeout)
	}
	if err != nil {
		_ = g.redis.Close()
		if g.limRedis != nil {
			g.limRedis.Close()
		}
		return fmt.Errorf("rate limiter: %w", err)
	}
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
	return context.WithTimeout(context.Background(), time.Duration(g.redisTimeout.Load()))
}

// Ready reports whether the shared store answers (nil for the memory
// store), for the admin listener's /readyz.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.idemRed == nil {
		return nil
	}
	return g.idemRed.Ping(ctx)
}
