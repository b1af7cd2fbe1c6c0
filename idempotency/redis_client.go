package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/cobaltgw/cobaltgw/internal/redisconn"
)

// The binding of the Redis store to its client library, rueidis: the only
// file that imports it. The store needs four things from a client: run a
// script on one key (runClaim, runFinish, runRelease), ping every node
// (Ping), and tell a full Redis from an unavailable one (wrap).
//
// The client is redisconn.Client, the one the rate limiter uses too: made
// on first use (so the gateway starts, and answers 503 store_unavailable
// to keyed requests, while Redis is down), auto-pipelined (the calls of
// concurrent requests share a few connections, one write and one read
// system call for many calls). Each call is bounded by its ctx, the
// proxy's redis_timeout: rueidis returns at the deadline even when the
// command is still queued or unanswered.

// redisBinding is the client side of a Redis store.
type redisBinding struct {
	c *redisconn.Client
}

// The scripts are retryable: a call that failed on a dead connection (a
// Redis restart) is sent again once, within the same deadline
// (redisconn.NewClient). Each is safe to run twice (see claimScript,
// finishScript, releaseScript).
var (
	claimLua   = rueidis.NewLuaScriptRetryable(claimScript)
	finishLua  = rueidis.NewLuaScriptRetryable(finishScript)
	releaseLua = rueidis.NewLuaScriptRetryable(releaseScript)
)

// NewRedis returns a store on client (redisconn.NewClient: one server, or
// the seed nodes of a Redis Cluster), which may be shared with other
// users; NewRedis does not contact Redis (see Ping). cfg.MemoryBudget is
// not used. The ctx passed to each method (store.redis_timeout) bounds
// its round trip.
func NewRedis(client *redisconn.Client, cfg Config) (*Redis, error) {
	if client == nil {
		return nil, errors.New("idempotency: redis store: nil client")
	}
	if err := validateRedis(cfg); err != nil {
		return nil, err
	}
	r := &Redis{redisBinding: redisBinding{c: client}}
	r.cfg.Store(newRedisConfig(cfg))
	return r, nil
}

// redisConfig is a Config with the script arguments it implies, made once
// per (re)configuration rather than once per call.
type redisConfig struct {
	Config
	lockArg, ttlArg, maxKeysArg string
	replayArg                   string // "1" in ModeReplay
}

func newRedisConfig(cfg Config) *redisConfig {
	rc := &redisConfig{
		Config:     cfg,
		lockArg:    strconv.FormatInt(millis(cfg.LockTimeout), 10),
		ttlArg:     strconv.FormatInt(millis(cfg.TTL), 10),
		maxKeysArg: strconv.Itoa(cfg.MaxKeysPerClient),
		replayArg:  "0",
	}
	if cfg.OnReuse == ModeReplay {
		rc.replayArg = "1"
	}
	return rc
}

// bytesArg passes b to the client without a copy. Only for a buffer that
// nobody changes afterwards: a call that returns at its deadline may leave
// the command queued, to be written later.
func bytesArg(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// runClaim runs claimScript: claimed, over the client's quota (retry > 0,
// the wait), or the entry holding the key (the reply's own bytes).
func (b *redisBinding) runClaim(ctx context.Context, k redisKeys, claim string, cfg *redisConfig) (claimed bool, retry time.Duration, entry []byte, err error) {
	c, err := b.c.Get()
	if err != nil {
		return false, 0, nil, err
	}
	keys := [2]string{k.record, k.quota}
	args := [5]string{claim, cfg.lockArg, cfg.replayArg, k.member, cfg.maxKeysArg}
	v, err := claimLua.Exec(ctx, c, keys[:], args[:]).ToMessage()
	if err != nil {
		return false, 0, nil, err
	}
	switch {
	case v.IsInt64():
		n, _ := v.AsInt64()
		if n == 1 {
			return true, 0, nil, nil
		}
		if n < 0 {
			return false, time.Duration(-n) * time.Millisecond, nil, nil
		}
		return false, 0, nil, fmt.Errorf("unexpected reply %d", n)
	case v.IsString():
		e, err := v.AsBytes()
		return false, 0, e, err
	}
	return false, 0, nil, fmt.Errorf("unexpected reply %v", v)
}

// runFinish runs finishScript and returns its code.
func (b *redisBinding) runFinish(ctx context.Context, k redisKeys, prefix, rec string, cfg *redisConfig) (int64, error) {
	c, err := b.c.Get()
	if err != nil {
		return 0, err
	}
	keys := [2]string{k.record, k.quota}
	args := [5]string{prefix, rec, cfg.ttlArg, k.member, cfg.maxKeysArg}
	return finishLua.Exec(ctx, c, keys[:], args[:]).AsInt64()
}

// runRelease runs releaseScript and returns its code.
func (b *redisBinding) runRelease(ctx context.Context, k redisKeys, prefix string) (int64, error) {
	c, err := b.c.Get()
	if err != nil {
		return 0, err
	}
	keys := [2]string{k.record, k.quota}
	args := [2]string{prefix, k.member}
	return releaseLua.Exec(ctx, c, keys[:], args[:]).AsInt64()
}

// Ping reports whether Redis answers (every master of a cluster), for
// readiness. ctx bounds it. The error wraps ErrStoreUnavailable.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx); err != nil {
		return r.wrap("ping", err)
	}
	return nil
}

// wrap makes err an ErrStoreUnavailable (ErrStoreFull when Redis is at
// maxmemory and refuses writes), keeping the Redis error for the log.
func (b *redisBinding) wrap(op string, err error) error {
	if re, ok := rueidis.IsRedisErr(err); ok {
		if strings.HasPrefix(re.Error(), "OOM ") {
			return fmt.Errorf("%w: redis %s: %w", ErrStoreFull, op, err)
		}
		if _, moved := re.IsMoved(); moved && b.c.Single() {
			return fmt.Errorf("%w: redis %s: %w (the server is a Redis Cluster node: list two or more nodes in redis_addrs)", ErrStoreUnavailable, op, err)
		}
	}
	return fmt.Errorf("%w: redis %s: %w", ErrStoreUnavailable, op, err)
}
