// Package idempotency implements the Idempotency-Key rules of CONTRACT.md
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
// Memory is exact and bounded for a single replica. A Redis store (a later
// task) implements the same interface: Claim is SET scope value NX PX
// lock_timeout (GET on failure), Complete and Abandon are one atomic
// compare-token-and-SET PX ttl (a small Lua script), Release is a
// compare-token-and-DEL; Redis errors are wrapped in ErrStoreUnavailable.
package idempotency
