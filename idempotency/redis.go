package idempotency

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Redis is the Store shared by replicas: one key per scope in Redis (or a
// Redis Cluster), each operation one atomic Lua script on the key's node,
// so exactly one request per key across all replicas is forwarded. See the
// package doc ("Store implementations") for what it guarantees when Redis
// fails, redis_record.go for the keys, values and scripts, and
// redis_client.go for the client library binding.
//
// Expiry is Redis's: claims and records are written with PX lock_timeout
// and PX ttl, relative to the Redis server's clock, so the now arguments
// are unused and the replicas' clocks need not agree.
type Redis struct {
	redisBinding
	cfg atomic.Pointer[redisConfig]

	claims, inFlight, completed, replayable, mismatches, storeFull atomic.Uint64
	releases, abandons, leasesLost, late, responsesDropped, errs   atomic.Uint64
	overQuota                                                      atomic.Uint64
}

var _ Store = (*Redis)(nil)

// validateRedis is Config.validate without the memory budget, which the
// Redis store does not use.
func validateRedis(cfg Config) error {
	cfg.MemoryBudget = 1
	return cfg.validate()
}

// Reconfigure applies a reloaded config: new durations apply to claims and
// records written from now on; entries in Redis keep their expiry.
func (r *Redis) Reconfigure(cfg Config) error {
	if err := validateRedis(cfg); err != nil {
		return err
	}
	r.cfg.Store(newRedisConfig(cfg))
	return nil
}

// millis converts a duration to whole milliseconds for PX, rounding up so
// that nothing expires earlier than configured (and PX 0 is never sent).
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// newToken returns a random non-zero lease token. Tokens tell a lease's
// claim from a later claim of the same key, by any replica: 64 random bits
// make a collision between the few claims of one key negligible, with no
// coordination between replicas.
func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

// Claim implements Store with claimScript: one round trip.
func (r *Redis) Claim(ctx context.Context, _ time.Time, scope []byte, fp Fingerprint) (ClaimResult, error) {
	cfg := r.cfg.Load()
	token := newToken()
	var claim [headerLen]byte
	appendHeader(claim[:0], kindClaimed, token, fp)
	claimed, wait, entry, err := r.runClaim(ctx, keysOf(scope), string(claim[:]), cfg)
	if err != nil {
		err = r.fail("claim", err)
		if errors.Is(err, ErrStoreFull) {
			r.storeFull.Add(1)
		}
		return ClaimResult{}, err
	}
	if wait > 0 {
		r.overQuota.Add(1)
		return ClaimResult{State: StateOverQuota, RetryAfter: wait}, nil
	}
	if claimed {
		r.claims.Add(1)
		return ClaimResult{State: StateClaimed, Lease: Lease{Scope: scope, Fingerprint: fp, Token: token}}, nil
	}
	rec, ok := parseRecord(entry)
	if !ok {
		// Not a value this store wrote: the key is taken, and neither
		// forwarding nor replaying is safe. Answer 409 reused.
		r.completed.Add(1)
		return ClaimResult{State: StateCompleted, SameFingerprint: true}, nil
	}
	res := ClaimResult{State: StateInFlight, SameFingerprint: rec.fp == fp}
	if !res.SameFingerprint {
		r.mismatches.Add(1)
	}
	if rec.kind == kindClaimed {
		r.inFlight.Add(1)
		return res, nil
	}
	res.State = StateCompleted
	r.completed.Add(1)
	if res.SameFingerprint && rec.payload != nil {
		r.replayable.Add(1)
		if cfg.OnReuse == ModeReplay {
			// A corrupt record cannot be replayed; nil answers 409 instead.
			res.Response, _ = decodeResponse(rec.payload)
		}
	}
	return res, nil
}

// Complete implements Store. The response is kept only in ModeReplay and
// when its body is at most MaxStoredResponse bytes; else the record says
// only that the key was used (a replay answers 409, never re-executes).
// Completing a lease whose claim expired unclaimed still records the
// outcome (Stats.LateCompletions), as the memory store does. Unlike the
// memory store, finishing the same lease again succeeds without changing
// the record: that is what a client retry after a lost reply looks like.
func (r *Redis) Complete(ctx context.Context, _ time.Time, l Lease, resp *Response) error {
	cfg := r.cfg.Load()
	kind, dropped := byte(kindUsed), false
	if resp != nil && cfg.OnReuse == ModeReplay {
		if !resp.Unstored && len(resp.Body) <= cfg.MaxStoredResponse {
			kind = kindResponse
		} else {
			dropped = true
		}
	}
	// A buffer of its own, passed without a copy (bytesArg): a call
	// that times out may leave the command queued, so the buffer is never
	// reused.
	n := headerLen
	if kind == kindResponse {
		n += encodedSize(resp)
	}
	rec := appendHeader(make([]byte, 0, n), kind, l.Token, l.Fingerprint)
	if kind == kindResponse {
		rec = appendResponse(rec, resp)
	}
	err := r.finish(ctx, cfg, l, bytesArg(rec), "complete")
	if err == nil && dropped {
		r.responsesDropped.Add(1)
	}
	return err
}

// Abandon implements Store: the claim becomes a record without response
// (kind 'A') living ttl, so a retry is refused rather than executed twice.
func (r *Redis) Abandon(ctx context.Context, _ time.Time, l Lease) error {
	var rec [headerLen]byte
	appendHeader(rec[:0], kindAbandoned, l.Token, l.Fingerprint)
	err := r.finish(ctx, r.cfg.Load(), l, string(rec[:]), "abandon")
	if err == nil {
		r.abandons.Add(1)
	}
	return err
}

func (r *Redis) finish(ctx context.Context, cfg *redisConfig, l Lease, rec string, op string) error {
	n, err := r.runFinish(ctx, keysOf(l.Scope), leasePrefix(l), rec, cfg)
	if err != nil {
		return r.fail(op, err)
	}
	switch n {
	case 0:
		r.leasesLost.Add(1)
		return ErrLeaseLost
	case 2:
		r.late.Add(1)
	}
	return nil
}

// leasePrefix is the start of the lease's claim value: what finishScript
// and releaseScript compare.
func leasePrefix(l Lease) string {
	var b [headerLen]byte
	return string(appendHeader(b[:0], kindClaimed, l.Token, l.Fingerprint)[:leasePrefixLen])
}

// Release implements Store: the claim is deleted if the lease still holds
// it, so a retry may go through.
func (r *Redis) Release(ctx context.Context, l Lease) error {
	n, err := r.runRelease(ctx, keysOf(l.Scope), leasePrefix(l))
	if err != nil {
		return r.fail("release", err)
	}
	if n == 0 {
		r.leasesLost.Add(1)
		return ErrLeaseLost
	}
	r.releases.Add(1)
	return nil
}

// Errors returns how many operations failed with ErrStoreUnavailable
// (Redis unreachable, timed out, refusing writes) since the store was
// created. Stats has no field for it; each one was a 503 (Claim) or an
// outcome not recorded (Complete, Abandon, Release).
func (r *Redis) Errors() uint64 { return r.errs.Load() }

// Stats implements Store. Expired, Entries and Bytes are Redis's business
// (INFO keyspace, used_memory) and stay zero; StoreFull counts claims that
// Redis refused at maxmemory.
func (r *Redis) Stats() Stats {
	return Stats{
		Claims:           r.claims.Load(),
		InFlight:         r.inFlight.Load(),
		Completed:        r.completed.Load(),
		Replayable:       r.replayable.Load(),
		Mismatches:       r.mismatches.Load(),
		StoreFull:        r.storeFull.Load(),
		Releases:         r.releases.Load(),
		Abandons:         r.abandons.Load(),
		LeasesLost:       r.leasesLost.Load(),
		LateCompletions:  r.late.Load(),
		ResponsesDropped: r.responsesDropped.Load(),
		OverQuota:        r.overQuota.Load(),
	}
}

// fail counts a failed operation and wraps its error (see wrap).
func (r *Redis) fail(op string, err error) error {
	r.errs.Add(1)
	return r.wrap(op, err)
}
