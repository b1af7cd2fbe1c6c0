// Package limiter is the gateway's rate limiting (README.md "Rate limits
// (429)", docs/configuration.md `[rate_limits.NAME]`): policies, their keys, token
// buckets within a memory budget, and the RateLimit header fields. It
// returns decisions; the proxy turns them into responses.
//
// # Model
//
// Each policy keeps one token bucket per key (client address, token id,
// header value, route, or client certificate). A bucket holds at most burst
// tokens, starts full, and refills at rate tokens per second (fractions
// allowed; +Inf never refuses); a request takes one token and is refused
// when less than one is left. A refused request takes nothing. The
// arithmetic is golang.org/x/time/rate's Limiter, operation for operation:
// FuzzBucketMatchesXTimeRate replays random request, give-back and reload
// sequences on both and requires identical decisions and token counts.
//
// golang.org/x/time is pinned at v0.16.0, the reference those tests run
// against, because older versions miscounted: a tiny rate overflowed
// durationFromTokens and let more than burst through (golang/go#71154; the
// capped conversion is copied here), and rounding in tokensFromDuration
// refused the first token of a full bucket at some rates (golang/go#34861;
// that rate is in the fuzz corpus). One behaviour is kept out on purpose:
// rate.Limiter lets an admitted request with an earlier time move its clock
// back, so the next later request counts the gap again (golang/go#56287).
// Concurrent requests reach a bucket with times slightly out of order, so a
// bucket here clamps each time to the latest one it has acted on.
//
// The bucket is its own small type rather than a wrapped rate.Limiter: the
// clamp and reloads need a lock of our own, and a wrapped limiter then
// costs three lock round trips per check (ours, AllowN, TokensAt: 85ns
// against 26ns measured); giving a token back has no allocation-free API
// there (ReserveN allocates, and CancelAt restores nothing once its instant
// has passed); and it would add 80 bytes to each 64-byte bucket.
//
// # Requests
//
// A route's policies are checked in two phases (README.md "Order of
// checks"): ip and client_cert before authentication, so that token
// guessing is throttled (PreAuth), token, header and route after it
// (PostAuth). Every policy must admit; a request refused by one gives back
// the tokens it took from the others, in either phase, and the policies
// after the refusing one are only looked at. One Decision spans both phases,
// so the RateLimit field reports on all the route's policies checked.
//
// Keys are hashed to 64 bits with hash/maphash under seeds drawn per process
// and per policy: each policy places its keys independently, and nobody can
// choose two keys that collide. Two keys that collide anyway share a bucket,
// which can only refuse too early; with a million keys the chance is about
// 3e-8. A missing key (no token, no header, no client certificate) falls
// back to the client address under a seed of its own. IPv6 clients are
// counted by /64 (AddrKey).
//
// # Memory and over-admission
//
// Buckets live in a ristretto cache bounded by a byte budget (docs/configuration.md
// `store.memory_budget`): each costs what it takes in the Go heap with the
// cache's own bookkeeping (see entryCost), so the budget bounds the live
// heap of this package — TestMemoryBudget sends 1,000,000 keys through a
// 32MiB budget. The Go runtime may hold up to GOGC% more before it collects:
// set GOMEMLIMIT to cap the process.
//
// Ristretto applies Sets asynchronously, may drop them under contention,
// admits a new key only if TinyLFU finds it more frequently used than the
// key it would evict, and evicts the least frequently used of a sample. A
// bucket that is forgotten restarts full, so the package keeps a side table
// (an eighth of the budget, two generations per shard) of buckets that are
// not, or not yet, in the cache: just created, refused admission, dropped,
// or evicted while still in debt (an evicted bucket that has refilled is
// simply forgotten: a new one would be the same). A cache miss looks there
// first, under the shard's lock, and offers the bucket to the cache again.
// Hence:
//
//   - One key never gets two buckets from concurrent requests: a bucket is
//     created under its side shard's lock and stays findable there for at
//     least a side generation, normally far longer than its Set waits in
//     ristretto's buffer.
//   - A key's state is forgotten only when it is neither resident nor in the
//     side table: it was evicted (the least used of five sampled keys, so
//     rarely a key in steady use) or never admitted, and then not used while
//     at least a side generation's worth of other buckets entered its shard
//     — about 580 per MiB of budget across the 64 shards, so 75,000 at the
//     default 128MiB. The count is of buckets, not time: ristretto's buffer
//     can run up to 32Ki Sets behind a flood of new keys and then evict in
//     a burst.
//   - A forgotten key restarts full: at most burst extra admissions per
//     loss, and none at all if it stayed idle for burst/rate seconds, after
//     which its bucket would have been full anyway.
//   - Ristretto removes an evicted bucket from its map before it calls
//     OnEvict; a request of that key landing in between finds neither and
//     starts a new bucket. OnEvict then folds the evicted bucket's state
//     into the new one and makes the old one forward to it (a Set of the
//     old one still buffered may bring it back), counted in Stats.Adopted:
//     the window admits at most burst (in practice the one request that
//     landed in it), never a lasting fresh start.
//
// Stats exposes the counters behind these bounds for metrics.
//
// # Reloads
//
// Limiter.Update binds each config's policies by name. A policy whose key is
// unchanged keeps its buckets; new rate or burst numbers reach each bucket
// the next time it is used, applied as of the Update's time, keeping its
// tokens, so a client that spent its burst does not get it back from a
// reload (x/time/rate's SetLimitAt and SetBurstAt semantics). Requests
// still on the old config use the same buckets, with the newest numbers.
// A policy that is removed, or whose key changes, starts afresh; its old
// buckets stay until evicted.
//
// # Shared buckets in Redis
//
// With Limiter.UseRedis (docs/configuration.md `[store] backend = "redis"`) every
// policy's buckets live in Redis or a Redis Cluster, shared by all
// replicas; the memory buckets above then serve only the "local" fallback.
// A bucket is one Redis hash per (policy, key), named by a SHA-256 of
// both, so the key bytes (an API key header, say) never reach Redis (see
// redis_script.go). Decisions are Lua scripts, atomic on their node: read
// each bucket, advance it to the server's TIME, take (or look, or give
// back), and write it with PEXPIRE set, in the same call, to the time it
// needs to refill fully plus a second. An idle key thus vanishes when a
// new one would be the same, and a script that leaves a bucket full
// deletes it. The arithmetic is bucket.go's, step for step in doubles on a
// µs clock, so the same times give the same decisions and the same r and
// t: TestRedisMatchesMemory replays a random sequence on both. Requests of
// all replicas are ordered by the one Redis clock; a clock that steps back
// is clamped as above.
//
// Round trips: one script call decides all the policies it holds, all or
// nothing (every bucket has a token and each gives one, or none gives
// any), so a refused request takes nothing and needs no give-back. On a
// single Redis a phase's policies are one call, and at PostAuth that call
// also carries the give-back of the PreAuth tokens, applied only if it
// refuses: a request costs one round trip per phase that has policies
// (TestRedisOneCallPerPhase). In a Cluster a call holds the keys of one
// hash tag, and the tag is the key's subject (the address, the token, the
// route…; see redis_script.go): the policies of one phase on one subject
// (per second and per minute on the address) are still one call, and
// policies on different subjects are one call each, in route order
// (TestRedisClusterCallsPerSubject). Across calls there is no transaction:
// a refusal gives back the tokens the earlier calls took, with one call per
// tag (in either phase). That leaves a small race: between a take and its
// give-back (about one round trip) a concurrent request of the same client
// sees one token fewer, and may be refused where a single transaction
// would have admitted it. It can only refuse early, by at most one token
// per refused request in flight, never admit beyond burst: every take is
// atomic on its node. A give-back that fails (Redis went away meanwhile)
// leaves the token spent until the bucket refills.
//
// Reloads: each call sends the policy's current rate and burst, and the
// bucket keeps the numbers it was last written with. A call with other
// numbers first advances the bucket under the stored ones, then switches,
// keeping its tokens: new numbers apply to each key from its next call
// (with memory buckets, from the Update). During a rolling reload, calls
// from replicas on either config alternate; each applies its own numbers.
//
// Store errors: all the round trips of one Check share one deadline,
// store.redis_timeout. A script call that fails (refused connection,
// timeout, Cluster slot down, any error reply) decides its policies, and
// every later policy of the same request in either phase, without asking
// Redis again,
// by store.rate_limit_on_store_error: "local" takes from this replica's
// memory bucket (full the first time; between outages it refills like any
// bucket), "allow" admits (reported as a full bucket), "deny" refuses with
// t = 1, so a 429 with Retry-After: 1. So a hung Redis costs a request
// about one redis_timeout, not one per policy or phase. Stats.RedisErrors
// counts failed scripts, Stats.Fallbacks the policy decisions made
// instead, and LastStoreError keeps the latest error for the log. When
// Redis answers again the same client uses it from the next Check (it
// reconnects by itself; one that could not be made at start is tried again
// at most once a second: redisconn.Client). Nothing is carried
// either way: what replicas admitted locally during an outage is not
// written to Redis, and a Redis that restarted empty starts every bucket
// full. In "local" mode a client can so get up to burst (plus refill) per
// replica during an outage, and its shared burst again afterwards.
//
// Near-limit cache: a replica remembers the buckets Redis reported below
// one token and until when they stay so, and refuses requests for them
// before then without a round trip (Stats.NearLimit), reporting r = 0 and
// t from the remembered time. Other replicas can only take tokens meanwhile,
// so this refuses nothing Redis would admit, except after a give-back, a
// reload or a data loss elsewhere, which it may refuse for at most one
// token interval longer (see nearCache). A client that keeps knocking after
// its 429 costs Redis one script per refill interval per replica.
//
// # Headers
//
// Route.PolicyField and Decision.AppendRateLimit produce the RateLimit-Policy
// and RateLimit fields of draft-ietf-httpapi-ratelimit-headers-10 (no pk
// parameter: it would disclose the client's key); Decision.RetryAfter is
// the 429's Retry-After, the largest t of the refusing policies; the
// AppendLegacy functions give X-RateLimit-Limit, -Remaining and -Reset for a
// policy with legacy_headers = true.
//
// # Using it
//
// Once per process: l, err := New(budget), and with backend = "redis"
// l.UseRedis(client, onStoreError, redisTimeout) (again after a reload that
// changes either). Per config load: l.Update(now, policies), and rt, err :=
// NewRoute(path, routePolicies) per route. Per request, with a Decision
// kept with the request:
//
//	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
//	addr := ClientIP(peer, trusted, ctx.Request.Header.PeekAll("X-Forwarded-For")...)
//	s := Subject{Addr: addr, ClientCert: subject, Header: &ctx.Request.Header}
//	if !l.Check(now, rt, PreAuth, &s, &d) { /* 429, Retry-After: d.RetryAfter() */ }
//	// authenticate, authorize; then
//	s.Token = tokenID
//	if !l.Check(now, rt, PostAuth, &s, &d) { /* 429 */ }
//	// every response on the route: RateLimit-Policy: rt.PolicyField(),
//	// RateLimit: d.AppendRateLimit(buf), and the legacy fields if d.Legacy().
package limiter
