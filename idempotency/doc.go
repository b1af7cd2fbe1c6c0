// Package idempotency implements the Idempotency-Key rules of README.md
// ("Idempotency (409)"): key parsing, request fingerprints, key scopes, and
// the claim/record store that lets exactly one request per key reach the
// upstream.
//
// # Model
//
// A request carrying a valid key is identified by its scope (credential,
// method, route, key; see AppendScope) and described by its fingerprint (a
// SHA-256 of method, path, query and body; see NewFingerprint). For each
// scope the store holds at most one entry, which is in one of three states:
//
//   - claimed: a request holds a Lease and is being forwarded. The claim
//     expires lock_timeout after it was taken, which bounds how long a
//     vanished holder (a killed replica) can block the key.
//   - completed: the upstream answered. The record lives ttl from completion
//     and carries the response for replay (when on_reuse = "replay" and the
//     body fits max_stored_response and the memory budget) or only the fact
//     that the key was used.
//   - abandoned: the outcome is unknown (timeout, reset after sending). The
//     entry lives ttl from then, so a retry can never execute twice.
//
// The proxy drives a request through it in this order:
//
//	key, err := ParseKey(values)              // ErrMissingKey / ErrInvalidKey → 400
//	scope = AppendScope(scope[:0], kind, credential, method, route, key)
//	fp := NewFingerprint(method, path, query, body)
//	res, err := store.Claim(ctx, now, scope, fp)   // err → 503 store_unavailable
//	switch Decide(mode, res) {
//	case Forward:      forward, then exactly one of
//	                   Complete(ctx, now, res.Lease, &resp) (upstream answered),
//	                   Release(ctx, res.Lease)               (upstream never reached),
//	                   Abandon(ctx, now, res.Lease)          (outcome unknown)
//	case Replay:           write res.Response, Idempotent-Replayed: true
//	case ConflictInFlight: 409 idempotency_key_in_flight
//	case ConflictReused:   409 idempotency_key_reused
//	case Mismatch:         422 idempotency_key_mismatch
//	}
//
// # Invariants
//
//   - Claim is atomic per scope: however many requests race, exactly one gets
//     StateClaimed; the others see the claim (StateInFlight) or its record.
//   - An entry never silently disappears before its expiry: when the store
//     cannot hold a new claim it returns an error (ErrStoreFull, or an
//     ErrStoreUnavailable from a remote store) and claims nothing, and the
//     proxy answers 503 rather than forwarding unprotected. A record whose
//     response does not fit is kept without its response (a replay then
//     answers 409), never dropped.
//   - Only the lease holder changes a claim: Complete, Release and Abandon
//     carry the lease token, and a lease that expired and was taken by
//     another request yields ErrLeaseLost without touching the new claim.
//   - The memory store's accounted bytes (Stats.Bytes) never exceed its
//     budget, and they over-estimate the heap it retains (map slots, slab
//     entries, keys, expiry queue items and stored responses), so the budget
//     bounds its memory up to a fixed slack of shard structures and partly
//     filled queue blocks (under 1 MiB; budgetSlack in the tests is 2 MiB).
//
// # Store implementations
//
// Memory is exact and bounded for a single replica.
//
// Redis (NewRedis) is shared by replicas, on the gateway's one Redis client
// (redisconn.Client, rueidis, shared with the rate limiter) for one server
// or a Redis Cluster. A scope is one key,
// cgw:idem:{hex SHA-256 of the scope}, the braces a Cluster hash tag; each
// operation is one Lua script on that key, atomic on the node that owns it:
//
//   - Claim: GET; when absent, SET the claim PX lock_timeout; else return
//     the entry's 42-byte header (kind, token, fingerprint), or the whole
//     record when it is to be replayed.
//   - Complete, Abandon: compare the lease token, then SET the record
//     (with the response, or without) PX ttl.
//   - Release: compare the lease token, then DEL.
//
// Expiry runs on Redis's clock. Every Redis error wraps ErrStoreUnavailable
// (ErrStoreFull when Redis is at maxmemory), and the proxy answers 503
// without forwarding. What this does and does not guarantee:
//
//   - Exactly one claim per key among all replicas that use one Redis
//     primary or one Cluster, however many race: the script runs alone on
//     the key's node.
//   - Redis replication is asynchronous. A claim or record that a primary
//     acknowledged and then lost in a failover (its replica had not
//     received it) is gone, and a retry of that key is forwarded again.
//     The same holds for a restart of a server without persistence. The
//     store does not use WAIT, which would narrow this window without
//     closing it.
//   - If Complete or Abandon fails (Redis unreachable, or slower than
//     redis_timeout), the claim stays until lock_timeout and then frees:
//     a retry after that is forwarded again although the first request
//     reached the upstream. This is the documented lock_timeout window,
//     which a store failure at the end of a request also opens.
//   - A Claim that timed out may still have been executed by Redis (the
//     command was sent, the reply came late). That request got 503, and
//     the key is in flight without a holder until lock_timeout: retries
//     get 409 until then, never a second execution.
//   - Redis must not evict these keys: run it with maxmemory-policy
//     noeviction (every key here has an expiry, so the volatile-* policies
//     would evict them too). At maxmemory Redis refuses writes and Claim
//     returns ErrStoreFull, as the memory store does when its budget is
//     exhausted.
//   - A client retry after a lost reply is harmless: a claim script run
//     twice finds its own claim, a finish run twice finds its own record.
package idempotency
