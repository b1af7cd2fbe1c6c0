package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Redis keys, the bucket script and its client binding: with
// redis_client.go, the only files that speak to Redis (rueidis).
//
// Key: "cgw:rl:{" + hex(subject digest) + "}:" + hex(bucket digest) + ":"
// + policy name. The bucket digest is the first 16 bytes of SHA-256(policy,
// key kind, key); the subject digest, the Cluster hash tag, those of
// SHA-256(key kind, key) without the policy. Every replica derives the same
// key for the same (policy, key), unlike the per-process maphash seeds of
// the memory buckets. The key bytes (a token id, an API key header, a
// certificate subject) never reach Redis, only their hashes, 128 bits, so
// no two keys meet by chance or by choice.
//
// The hash tag is per subject, not per bucket, so that the buckets of one
// client under several policies with the same key (per second and per
// minute on the address, say) sit in one Cluster slot and one script call
// decides them all; buckets of different subjects (a client address and
// the route) still spread over the slots, and a call never spans two tags
// (see checkRedis). The policy name after the digests is for people reading
// redis-cli. A policy whose key kind or header changes hashes to new keys
// and starts afresh, as in memory. (The key format before this one, with a
// per-bucket tag, is abandoned on upgrade: those buckets expire within
// their refill time, and clients start full once.)
//
// Value: a hash {t: tokens, l: time of t in µs of the Redis clock, r: rate,
// b: burst}, numbers in a form Lua and Go read back bit for bit (%.17g and
// strconv 'g' -1). A full bucket is no key at all: a key expires when it
// would have refilled, and a script that leaves a bucket full deletes it.

const redisKeyPrefix = "cgw:rl:"

// redisDigest returns the SHA-256 that names s's bucket under st in
// Redis and the digest of its subject, the bucket's Cluster hash tag;
// redisKey makes the key of them, and the bucket digest's bytes 16-24 name
// it in the near-limit cache. It mirrors policyState.hash: the same key
// kinds, the same fallback to the client address (in a domain of its own)
// when the key is absent.
func (st *policyState) redisDigest(rt *Route, s *Subject) (sum [sha256.Size]byte, tag [sha256.Size]byte) {
	dom := byte('k') // the policy's own key
	var k []byte
	switch st.key {
	case KeyIP:
		// Handled with the fallback below: the address is the key.
	case KeyRoute:
		k = rt.name
		dom = 'r'
	case KeyToken:
		k = s.Token
	case KeyClientCert:
		k = s.ClientCert
	case KeyHeader:
		if s.Header != nil {
			k = s.Header.Peek(st.header)
		}
	}
	var addr [16]byte
	if len(k) == 0 && dom != 'r' {
		addr = AddrKey(s.Addr)
		k, dom = addr[:], 'a'
	}
	var buf [256]byte // on the stack for the usual key sizes
	// The subject: an address, a route, or a key of a kind (and header).
	in := append(buf[:0], "cgw:rl:v2:subject\x00"...)
	in = append(in, dom)
	if dom == 'k' {
		in = append(in, st.key.String()...)
		in = append(in, ':')
		in = append(in, st.header...)
		in = append(in, 0)
	}
	in = append(in, k...)
	tag = sha256.Sum256(in)
	in = append(buf[:0], "cgw:rl:v1\x00"...)
	in = append(in, st.name...)
	in = append(in, 0)
	in = append(in, st.key.String()...)
	in = append(in, ':')
	in = append(in, st.header...)
	in = append(in, 0, dom)
	in = append(in, k...)
	return sha256.Sum256(in), tag
}

// nearID is the name of a digest's bucket in the near-limit cache.
func nearID(sum *[sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(sum[16:24]) }

// redisKey is the Redis key of the bucket named sum, with the subject tag
// tag, of the policy called name. It allocates: the client needs a string of
// its own that outlives the call (a call that times out leaves its command
// queued).
func redisKey(sum, tag *[sha256.Size]byte, name string) string {
	b := make([]byte, 0, len(redisKeyPrefix)+4+64+len(name))
	b = append(b, redisKeyPrefix...)
	b = append(b, '{')
	b = hex.AppendEncode(b, tag[:16])
	b = append(b, '}', ':')
	b = hex.AppendEncode(b, sum[:16])
	b = append(b, ':')
	b = append(b, name...)
	return string(b)
}

// Script modes, one per key.
const (
	modeTake       = "t" // take a token if every "t" key of the call has one (rate.Limiter.AllowN(now, 1))
	modePeek       = "p" // report the tokens, change nothing
	modeGive       = "g" // give a token back, up to burst (AllowN(now, -1))
	modeGiveIfNone = "G" // give back only if the call's takes were refused
)

// bucketScript is one call's token bucket operations, atomic on its node,
// each with the arithmetic of bucket.go (golang.org/x/time/rate v0.16.0)
// step for step in IEEE doubles, so that the same times give the same
// decisions and token counts (TestRedisMatchesMemory):
//
//	KEYS[i]      the buckets (one Cluster slot: one hash tag, see checkRedis)
//	ARGV[1]      now in µs, or "" to read the server's TIME (production:
//	             the replicas' clocks need not agree, and one clock orders
//	             all requests)
//	ARGV[2]      ms added to the expiry beyond the time to refill
//	ARGV[3i]     KEYS[i]'s mode: t take, p peek, g give back, G give back
//	             if the takes were refused
//	ARGV[3i+1]   its rate, tokens per second (finite, > 0; +Inf never
//	             reaches Redis)
//	ARGV[3i+2]   its burst
//
// The takes are all or nothing: every "t" bucket is charged when each has
// a token, else none is (a refused request takes nothing, so nothing needs
// giving back). It returns {all, ok1, tokens1, ok2, tokens2, …}: all is 1
// when the takes were granted (or there were none); ok_i, for a "t" key,
// whether its own bucket had a token (1 for the other modes); tokens_i the
// tokens left after the call. Tokens are %.17g strings (a Lua number reply
// would be truncated to an integer).
//
// Times are µs (TIME's resolution; exact in a double until the year 2255),
// and elapsed time is converted to seconds as time.Duration.Seconds does
// (whole seconds plus nanoseconds / 1e9) so the floats match. An earlier
// time than a bucket's is clamped to it (see the package doc). When the
// stored rate or burst differ from ARGV (a reload), the bucket is first
// advanced to now under the stored numbers, then switched, keeping its
// tokens: SetLimitAt/SetBurstAt at the first call after the reload.
//
// A key's expiry is set in the same call as its value, to the time the
// bucket takes to refill fully: an idle key vanishes exactly when a new one
// would be the same. A refusal writes nothing (unless it applied a reload).
var bucketScript = `
if redis.replicate_commands then redis.replicate_commands() end
local now
if ARGV[1] == '' then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
	now = tonumber(ARGV[1])
end
local margin = tonumber(ARGV[2])
local function advance(tokens, last, t, r, b)
	local dt = t - last
	if dt < 0 then dt = 0 end
	local us = dt % 1000000
	tokens = tokens + ((dt - us) / 1000000 + (us * 1000) / 1e9) * r
	if tokens > b then tokens = b end
	return tokens
end
local all, bk = 1, {}
for i = 1, #KEYS do
	local rs, bs = ARGV[3*i+1], ARGV[3*i+2]
	local e = {mode = ARGV[3*i], rate = tonumber(rs), burst = tonumber(bs), rs = rs, bs = bs, t = now, ok = 1}
	e.tokens, e.last, e.dirty = e.burst, now, false
	local s = redis.call('HMGET', KEYS[i], 't', 'l', 'r', 'b')
	if s[1] then
		e.tokens, e.last = tonumber(s[1]), tonumber(s[2])
		if e.t < e.last then e.t = e.last end
		if s[3] ~= rs or s[4] ~= bs then
			e.tokens = advance(e.tokens, e.last, e.t, tonumber(s[3]), tonumber(s[4]))
			e.last, e.dirty = e.t, true
		end
	end
	e.out = advance(e.tokens, e.last, e.t, e.rate, e.burst)
	if e.mode == 't' then
		local left = e.out - 1
		if e.burst < 1 or (left < 0 and (-left / e.rate) * 1e9 >= 1) then
			e.ok, all = 0, 0
		end
	end
	bk[i] = e
end
local reply = {all}
for i = 1, #KEYS do
	local e = bk[i]
	if e.mode == 't' and all == 1 then
		e.out = e.out - 1
		e.tokens, e.last, e.dirty = e.out, e.t, true
	elseif e.mode == 'g' or (e.mode == 'G' and all == 0) then
		e.out = e.out + 1
		if e.out > e.burst then e.out = e.burst end
		e.tokens, e.last, e.dirty = e.out, e.t, true
	end
	if e.dirty then
		if e.tokens >= e.burst then
			redis.call('DEL', KEYS[i])
		else
			redis.call('HSET', KEYS[i], 't', string.format('%.17g', e.tokens), 'l', string.format('%.17g', e.last), 'r', e.rs, 'b', e.bs)
			local ms = math.ceil((e.burst - e.tokens) / e.rate * 1000) + margin
			if ms > 1e12 then ms = 1e12 end
			redis.call('PEXPIRE', KEYS[i], string.format('%d', ms))
		end
	end
	reply[2*i] = e.ok
	reply[2*i+1] = string.format('%.17g', e.out)
end
return reply
`

var bucketLua = rueidis.NewLuaScript(bucketScript)

// Expiry margins (ARGV[2]): a second beyond the refill time in production;
// an hour when tests drive the bucket with their own clock, whose time does
// not pass with the server's.
const (
	expiryMargin     = "1000"
	testExpiryMargin = "3600000"
)

// bucketOp is one key of a call.
type bucketOp struct {
	key  string
	mode string
	p    *params
}

// bucketReply is what the script said about one key.
type bucketReply struct {
	ok     bool
	tokens float64
}

// runBuckets runs bucketScript on ops (at most MaxRoutePolicies, one hash
// tag) and fills out[:len(ops)]. nowMicros is "" in production.
func runBuckets(ctx context.Context, c rueidis.Client, ops []bucketOp, nowMicros, margin string, out *[MaxRoutePolicies]bucketReply) (all bool, err error) {
	keys := make([]string, len(ops))
	args := make([]string, 2, 2+3*len(ops))
	args[0], args[1] = nowMicros, margin
	for i, op := range ops {
		keys[i] = op.key
		rate, burst := op.p.redisArgs()
		args = append(args, op.mode, rate, burst)
	}
	v, err := bucketLua.Exec(ctx, c, keys, args).ToArray()
	if err != nil {
		return false, err
	}
	if len(v) != 1+2*len(ops) {
		return false, fmt.Errorf("rate limit script: %d replies for %d keys", len(v), len(ops))
	}
	a, err := v[0].AsInt64()
	if err != nil {
		return false, fmt.Errorf("rate limit script: %w", err)
	}
	for i := range ops {
		g, err := v[1+2*i].AsInt64()
		if err != nil {
			return false, fmt.Errorf("rate limit script: %w", err)
		}
		ts, err := v[2+2*i].ToString()
		if err != nil {
			return false, fmt.Errorf("rate limit script: %w", err)
		}
		tokens, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			return false, fmt.Errorf("rate limit script: tokens %q: %w", ts, err)
		}
		out[i] = bucketReply{ok: g == 1, tokens: tokens}
	}
	return a == 1, nil
}

// redisArgs returns the rate and burst as the script's arguments: the
// strings the bucket stores and compares (%.17g-exact), made once per
// params.
func (p *params) redisArgs() (rate, burst string) {
	if p.rateArg != "" {
		return p.rateArg, p.burstArg
	}
	return strconv.FormatFloat(p.limit, 'g', -1, 64), strconv.Itoa(p.burst)
}

// newParams makes the numbers of a policy in force from since, with their
// script arguments.
func newParams(limit float64, burst int, since time.Time) *params {
	p := &params{limit: limit, burst: burst, since: since}
	p.rateArg, p.burstArg = p.redisArgs()
	return p
}
