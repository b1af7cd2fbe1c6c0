package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Redis keys, the bucket script and its client binding: the only file
// that speaks to go-redis.
//
// Key: "cgw:rl:{" + hex(first 16 bytes of SHA-256(policy, key kind, key))
// + "}:" + policy name. Every replica derives the same key for the same
// (policy, key), unlike the per-process maphash seeds of the memory
// buckets. The key bytes (a token id, an API key header, a certificate
// subject) never reach Redis, only their hash, 128 bits, so no two keys
// meet by chance or by choice. The braces are a Redis Cluster hash tag
// around the digest alone (a policy name may contain braces), so buckets
// spread over the slots; each script touches one key, so a request's
// policies may live on different nodes. The policy name after the tag is
// for people reading redis-cli. A policy whose key kind or header changes
// hashes to new keys and starts afresh, as in memory.
//
// Value: a hash {t: tokens, l: time of t in µs of the Redis clock, r: rate,
// b: burst}, numbers in a form Lua and Go read back bit for bit (%.17g and
// strconv 'g' -1). A full bucket is no key at all: a key expires when it
// would have refilled, and a script that leaves a bucket full deletes it.

const redisKeyPrefix = "cgw:rl:"

// redisDigest returns the SHA-256 that names s's bucket under st in
// Redis; redisKey makes the key of it, and its bytes 16-24 name it in the
// near-limit cache. It mirrors policyState.hash: the same key kinds, the
// same fallback to the client address (in a domain of its own) when the
// key is absent.
func (st *policyState) redisDigest(rt *Route, s *Subject) [sha256.Size]byte {
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
	in := append(buf[:0], "cgw:rl:v1\x00"...)
	in = append(in, st.name...)
	in = append(in, 0)
	in = append(in, st.key.String()...)
	in = append(in, ':')
	in = append(in, st.header...)
	in = append(in, 0, dom)
	in = append(in, k...)
	return sha256.Sum256(in)
}

// nearID is the name of a digest's bucket in the near-limit cache.
func nearID(sum *[sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(sum[16:24]) }

// redisKey is the Redis key of the bucket named sum of the policy called
// name. It allocates: go-redis needs a string of its own.
func redisKey(sum *[sha256.Size]byte, name string) string {
	b := make([]byte, 0, len(redisKeyPrefix)+3+32+len(name))
	b = append(b, redisKeyPrefix...)
	b = append(b, '{')
	b = hex.AppendEncode(b, sum[:16])
	b = append(b, '}', ':')
	b = append(b, name...)
	return string(b)
}

// Script modes (ARGV[1]).
const (
	modeTake = "t" // take a token if one is there (rate.Limiter.AllowN(now, 1))
	modePeek = "p" // report the tokens, change nothing
	modeGive = "g" // give a token back, up to burst (AllowN(now, -1))
)

// bucketScript is one token bucket operation, atomic on its node, with the
// arithmetic of bucket.go (golang.org/x/time/rate v0.16.0) step for step in
// IEEE doubles, so that the same times give the same decisions and token
// counts (TestRedisMatchesMemory):
//
//	KEYS[1] the bucket
//	ARGV[1] mode: t take, p peek, g give back
//	ARGV[2] rate, tokens per second (finite, > 0; +Inf never reaches Redis)
//	ARGV[3] burst
//	ARGV[4] now in µs, or "" to read the server's TIME (production: the
//	        replicas' clocks need not agree, and one clock orders all
//	        requests)
//	ARGV[5] ms added to the expiry beyond the time to refill
//
// It returns {1 or 0, tokens}: for t whether the token was granted, and
// the tokens left (after the take when granted, else those there); p and g
// return 1 and the tokens. Tokens are a %.17g string (a Lua number reply
// would be truncated to an integer).
//
// Times are µs (TIME's resolution; exact in a double until the year 2255),
// and elapsed time is converted to seconds as time.Duration.Seconds does
// (whole seconds plus nanoseconds / 1e9) so the floats match. An earlier
// time than the bucket's is clamped to it (see the package doc). When the
// stored rate or burst differ from ARGV (a reload), the bucket is first
// advanced to now under the stored numbers, then switched, keeping its
// tokens: SetLimitAt/SetBurstAt at the first call after the reload.
//
// The key's expiry is set in the same call as its value, to the time the
// bucket takes to refill fully: an idle key vanishes exactly when a new one
// would be the same. A refusal writes nothing (unless it applied a reload),
// as a refused request takes nothing.
var bucketScript = `
if redis.replicate_commands then redis.replicate_commands() end
local key, mode, rate, burst = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now
if ARGV[4] == '' then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
	now = tonumber(ARGV[4])
end
local function advance(tokens, last, t, r, b)
	local dt = t - last
	if dt < 0 then dt = 0 end
	local us = dt % 1000000
	tokens = tokens + ((dt - us) / 1000000 + (us * 1000) / 1e9) * r
	if tokens > b then tokens = b end
	return tokens
end
local tokens, last, dirty = burst, now, false
local s = redis.call('HMGET', key, 't', 'l', 'r', 'b')
if s[1] then
	tokens, last = tonumber(s[1]), tonumber(s[2])
	if now < last then now = last end
	if s[3] ~= ARGV[2] or s[4] ~= ARGV[3] then
		tokens = advance(tokens, last, now, tonumber(s[3]), tonumber(s[4]))
		last, dirty = now, true
	end
end
local granted, out = 1, 0
if mode == 't' then
	out = advance(tokens, last, now, rate, burst)
	local left = out - 1
	if burst < 1 or (left < 0 and (-left / rate) * 1e9 >= 1) then
		granted = 0
	else
		tokens, last, dirty, out = left, now, true, left
	end
elseif mode == 'g' then
	tokens = advance(tokens, last, now, rate, burst) + 1
	if tokens > burst then tokens = burst end
	last, dirty, out = now, true, tokens
else
	out = advance(tokens, last, now, rate, burst)
end
if dirty then
	if tokens >= burst then
		redis.call('DEL', key)
	else
		redis.call('HSET', key, 't', string.format('%.17g', tokens), 'l', string.format('%.17g', last), 'r', ARGV[2], 'b', ARGV[3])
		local ms = math.ceil((burst - tokens) / rate * 1000) + tonumber(ARGV[5])
		if ms > 1e12 then ms = 1e12 end
		redis.call('PEXPIRE', key, string.format('%d', ms))
	end
end
return {granted, string.format('%.17g', out)}
`

var bucketLua = redis.NewScript(bucketScript)

// Expiry margins (ARGV[5]): a second beyond the refill time in production;
// an hour when tests drive the bucket with their own clock, whose time does
// not pass with the server's.
const (
	expiryMargin     = "1000"
	testExpiryMargin = "3600000"
)

// runBucket runs bucketScript on key. nowMicros is "" in production.
func runBucket(ctx context.Context, c redis.UniversalClient, key, mode string, p *params, nowMicros, margin string) (granted bool, tokens float64, err error) {
	rate := strconv.FormatFloat(p.limit, 'g', -1, 64)
	burst := strconv.Itoa(p.burst)
	v, err := bucketLua.Run(ctx, c, []string{key}, mode, rate, burst, nowMicros, margin).Slice()
	if err != nil {
		return false, 0, err
	}
	if len(v) != 2 {
		return false, 0, fmt.Errorf("rate limit script: unexpected reply %v", v)
	}
	g, ok1 := v[0].(int64)
	ts, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return false, 0, fmt.Errorf("rate limit script: unexpected reply %v", v)
	}
	tokens, err = strconv.ParseFloat(ts, 64)
	if err != nil {
		return false, 0, fmt.Errorf("rate limit script: tokens %q: %w", ts, err)
	}
	return g == 1, tokens, nil
}
