package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
)

// The binding of the Redis store to its client library, go-redis v9: the
// only file that imports it. The store needs four things from a client:
// run a script on one key (runClaim, runFinish, runRelease), ping every
// node (Ping), and tell a full Redis from an unavailable one (wrap).

// redisBinding is the client side of a Redis store.
type redisBinding struct {
	c          redis.UniversalClient
	standalone bool // c is a single-node client (a MOVED reply is then a misconfiguration)
}

var (
	claimLua   = redis.NewScript(claimScript)
	finishLua  = redis.NewScript(finishScript)
	releaseLua = redis.NewScript(releaseScript)
)

// NewRedis returns a store on client, which may be a single-node client or
// a cluster client (see RedisOptions) and may be shared with other users;
// NewRedis does not contact Redis (see Ping). cfg.MemoryBudget is not used.
//
// The client must have ContextTimeoutEnabled: the ctx deadline passed to
// each method (store.redis_timeout) is what bounds a round trip, and
// without it go-redis would wait its ReadTimeout (seconds) on a hung
// server while the request waits with it.
func NewRedis(client redis.UniversalClient, cfg Config) (*Redis, error) {
	if client == nil {
		return nil, errors.New("idempotency: redis store: nil client")
	}
	if err := validateRedis(cfg); err != nil {
		return nil, err
	}
	r := &Redis{redisBinding: redisBinding{c: client}}
	switch c := client.(type) {
	case *redis.Client:
		r.standalone = true
		if !c.Options().ContextTimeoutEnabled {
			return nil, errNoContextTimeout
		}
	case *redis.ClusterClient:
		if !c.Options().ContextTimeoutEnabled {
			return nil, errNoContextTimeout
		}
	}
	r.cfg.Store(&cfg)
	return r, nil
}

var errNoContextTimeout = errors.New("idempotency: redis store: the client must set ContextTimeoutEnabled so that store.redis_timeout bounds each round trip (see RedisOptions)")

// RedisOptions returns go-redis options for [store] redis_addrs,
// redis_password and redis_timeout, for redis.NewUniversalClient:
//
//   - one address is a single Redis server (a primary, or a managed
//     endpoint that follows failover); two or more are the seed nodes of
//     a Redis Cluster. A Cluster behind one address (a configuration
//     endpoint) is not detected: its MOVED replies fail requests with a
//     message saying to list the nodes.
//   - conn (redisconn.Settings) gives each new connection the running
//     redis_password and bounds its dial by the running redis_timeout, so
//     a reload changes both for new connections. ContextTimeoutEnabled
//     makes the caller's deadline (redis_timeout, per call) bound reading,
//     writing and waiting for a pooled connection (NewRedis requires it);
//     the client's own timeouts are only redisconn.CallCeiling.
//   - a failed dial is not retried (DialerRetries 1: the default five with
//     backoff would outlast any request); a command is retried once on a
//     fresh connection when a pooled one turns out to be dead (after a
//     Redis restart), within the same deadline. Every script is safe to
//     run twice (see claimScript, finishScript).
//   - no CLIENT SETINFO or maintenance notifications: fewer round trips
//     per new connection, nothing Redis 6 refuses.
//
// After the server was unreachable go-redis probes it once a second, so a
// recovered Redis is used again within about a second, by the same client.
func RedisOptions(addrs []string, conn *redisconn.Settings) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                    addrs,
		CredentialsProvider:      func() (string, string) { return "", conn.Password() },
		Dialer:                   conn.Dial,
		IsClusterMode:            len(addrs) > 1,
		ContextTimeoutEnabled:    true,
		ReadTimeout:              redisconn.CallCeiling,
		WriteTimeout:             redisconn.CallCeiling,
		PoolTimeout:              redisconn.CallCeiling,
		DialerRetries:            1,
		MaxRetries:               1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// runClaim runs claimScript: claimed, over the client's quota (retry > 0,
// the wait), or the entry holding the key.
func (b *redisBinding) runClaim(ctx context.Context, k redisKeys, claim []byte, lockMillis int64, replay bool, maxKeys int) (claimed bool, retry time.Duration, entry []byte, err error) {
	flag := "0"
	if replay {
		flag = "1"
	}
	v, err := claimLua.Run(ctx, b.c, []string{k.record, k.quota}, claim, lockMillis, flag, k.member, maxKeys).Result()
	if err != nil {
		return false, 0, nil, err
	}
	switch v := v.(type) {
	case int64:
		if v == 1 {
			return true, 0, nil, nil
		}
		if v < 0 {
			return false, time.Duration(-v) * time.Millisecond, nil, nil
		}
	case string:
		return false, 0, []byte(v), nil
	}
	return false, 0, nil, fmt.Errorf("unexpected reply %v", v)
}

// runFinish runs finishScript and returns its code.
func (b *redisBinding) runFinish(ctx context.Context, k redisKeys, prefix, rec []byte, ttlMillis int64, maxKeys int) (int64, error) {
	return finishLua.Run(ctx, b.c, []string{k.record, k.quota}, prefix, rec, ttlMillis, k.member, maxKeys).Int64()
}

// runRelease runs releaseScript and returns its code.
func (b *redisBinding) runRelease(ctx context.Context, k redisKeys, prefix []byte) (int64, error) {
	return releaseLua.Run(ctx, b.c, []string{k.record, k.quota}, prefix, k.member).Int64()
}

// Ping reports whether Redis answers (every master of a cluster), for
// readiness. ctx bounds it. The error wraps ErrStoreUnavailable.
func (r *Redis) Ping(ctx context.Context) error {
	var err error
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		})
	} else {
		err = r.c.Ping(ctx).Err()
	}
	if err != nil {
		return r.wrap("ping", err)
	}
	return nil
}

// wrap makes err an ErrStoreUnavailable (ErrStoreFull when Redis is at
// maxmemory and refuses writes), keeping the Redis error for the log.
func (b *redisBinding) wrap(op string, err error) error {
	if redis.IsOOMError(err) {
		return fmt.Errorf("%w: redis %s: %w", ErrStoreFull, op, err)
	}
	if _, moved := redis.IsMovedError(err); moved && b.standalone {
		return fmt.Errorf("%w: redis %s: %w (the server is a Redis Cluster node: list two or more nodes in redis_addrs)", ErrStoreUnavailable, op, err)
	}
	return fmt.Errorf("%w: redis %s: %w", ErrStoreUnavailable, op, err)
}
