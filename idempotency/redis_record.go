package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Redis keys and values.
//
// Key: "cgw:idem:{" + hex(SHA-256(client)) + "}" + hex(SHA-256(scope)),
// where client is the scope's client part (Client). The scope holds
// arbitrary bytes of up to ~1 KiB (credential, org, route, a 255-character
// key); its hash is a fixed key that is safe to log and to type into
// redis-cli. The braces are a Redis Cluster hash tag: every key of one
// client, and the client's quota set, land on one slot, so a Lua script
// may touch a record and its client's set atomically.
//
// Quota set: "cgw:idemq:{" + hex(SHA-256(client)) + "}", a sorted set of
// the client's live entries: member hex(SHA-256(scope)), score the entry's
// expiry in Redis server milliseconds (max_keys_per_client).
//
// Value: a fixed 42-byte header, then a payload.
//
//	[0]      version (recordVersion): how to read the payload
//	[1]      kind: 'C' claimed, 'R' completed with a response,
//	         'U' completed without one, 'A' abandoned (outcome unknown)
//	[2:10]   lease token, big endian (the claim's, kept in its record)
//	[10:42]  fingerprint of the request that claimed the key
//	[42:]    kind 'R' only: the response as encodeResponse writes it
//	         (status, headers, body)
//
// The header layout is the same in every version, so a gateway meeting a
// record written by a newer one still knows whether the key is claimed or
// used and with which fingerprint; only the payload is versioned. A value
// it cannot read at all (shorter than the header) counts as used without a
// response: the request is refused (409), never forwarded or replayed.
const (
	redisKeyPrefix   = "cgw:idem:"
	redisQuotaPrefix = "cgw:idemq:"
	recordVersion    = 1
	headerLen        = 2 + 8 + len(Fingerprint{})
	leasePrefixLen   = 10 // version, kind and token: what a lease holder compares

	kindClaimed   = 'C'
	kindResponse  = 'R'
	kindUsed      = 'U'
	kindAbandoned = 'A'
)

// redisKeys are the Redis keys and quota member of one scope.
type redisKeys struct {
	record, quota string
	member        string // hex(SHA-256(scope)), the record key's tail
}

func keysOf(scope []byte) redisKeys {
	client := sha256.Sum256(Client(scope))
	sum := sha256.Sum256(scope)
	var b [len(redisKeyPrefix) + 1 + 2*sha256.Size + 1 + 2*sha256.Size]byte
	n := copy(b[:], redisKeyPrefix)
	b[n] = '{'
	hex.Encode(b[n+1:], client[:])
	n += 1 + 2*sha256.Size
	b[n] = '}'
	hex.Encode(b[n+1:], sum[:])
	record := string(b[:])
	tag := record[len(redisKeyPrefix) : len(redisKeyPrefix)+2+2*sha256.Size]
	return redisKeys{
		record: record,
		quota:  redisQuotaPrefix + tag,
		member: record[n+1:],
	}
}

// redisKey returns the Redis key of scope's record.
func redisKey(scope []byte) string { return keysOf(scope).record }

// appendHeader appends a record header.
func appendHeader(dst []byte, kind byte, token uint64, fp Fingerprint) []byte {
	dst = append(dst, recordVersion, kind)
	dst = binary.BigEndian.AppendUint64(dst, token)
	return append(dst, fp[:]...)
}

// appendResponse appends the encoding of r (encodeResponse), so a Redis
// record is built in one buffer.
func appendResponse(dst []byte, r *Response) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.Status))
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	return append(dst, r.Body...)
}

// record is a parsed value.
type record struct {
	kind    byte
	token   uint64
	fp      Fingerprint
	payload []byte // the encoded response of a kind 'R' record of this version
}

// parseRecord reads a value. ok is false when it is too short to hold a
// header; a payload of another version is left out (payload nil).
func parseRecord(v []byte) (rec record, ok bool) {
	if len(v) < headerLen {
		return record{}, false
	}
	rec.kind = v[1]
	rec.token = binary.BigEndian.Uint64(v[2:10])
	copy(rec.fp[:], v[10:headerLen])
	if v[0] == recordVersion && rec.kind == kindResponse {
		rec.payload = v[headerLen:]
	}
	return rec, true
}

// Lua scripts. Each touches one key (KEYS[1]), so it runs on the key's
// node in a cluster and is atomic there. ARGV lengths are counted in bytes;
// Lua strings are binary safe.

// claimScript takes the key or reports its entry.
//
// One script rather than SET NX followed by GET: that is two round trips,
// and the key can expire or change between them. Nor SET NX GET (Redis
// 7.0+), which would return a megabyte record to every conflicting
// request. The script returns 42 bytes to a conflict, and recognises its
// own retried claim.
//
//	KEYS[1] the record, KEYS[2] the client's quota set
//	ARGV[1] the new claim (a header of kind 'C')
//	ARGV[2] lock_timeout in milliseconds
//	ARGV[3] "1" when a response could be replayed (on_reuse = "replay")
//	ARGV[4] the scope's quota member
//	ARGV[5] max_keys_per_client (0: no limit, the set is not kept)
//
// It returns 1 when the key was taken; a negative number -n when the key
// is new but the client holds ARGV[5] live entries, n being the
// milliseconds until the oldest expires (at least 1); else the entry:
// whole when it may be replayed to this request (replay mode, kind 'R',
// same fingerprint), else only its header, so a conflict costs 42 bytes on
// the wire however large the stored response. An entry equal to ARGV[1] is
// this very claim, run again because the client retried after a lost
// reply: it answers 1, so a retried Claim is not reported as in flight to
// its own holder. Scores are Redis's clock (TIME), like PX expiry; Redis
// 5+ replicates a script's effects, not the script, so reading the clock
// before writing is allowed.
var claimScript = `
local v = redis.call('GET', KEYS[1])
if not v then
	local max = tonumber(ARGV[5])
	if max > 0 then
		if redis.replicate_commands then redis.replicate_commands() end
		local t = redis.call('TIME')
		local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
		redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
		redis.call('ZREM', KEYS[2], ARGV[4])
		if redis.call('ZCARD', KEYS[2]) >= max then
			local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
			return -math.max(1, tonumber(oldest[2]) - now)
		end
		local lock = tonumber(ARGV[2])
		redis.call('ZADD', KEYS[2], now + lock, ARGV[4])
		if redis.call('PTTL', KEYS[2]) < lock then
			redis.call('PEXPIRE', KEYS[2], lock)
		end
	end
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 1
end
if v == ARGV[1] then
	return 1
end
if ARGV[3] == '1' and string.sub(v, 2, 2) == 'R' and string.sub(v, 11, 42) == string.sub(ARGV[1], 11, 42) then
	return v
end
return string.sub(v, 1, 42)
`

// finishScript is Complete and Abandon: compare the lease, write the record.
//
//	KEYS[1] the record, KEYS[2] the client's quota set
//	ARGV[1] the lease's claim prefix (version, 'C', token: 10 bytes)
//	ARGV[2] the record
//	ARGV[3] ttl in milliseconds
//	ARGV[4] the scope's quota member
//	ARGV[5] max_keys_per_client (0: the set is not kept)
//
// Returns 1 when the claim became the record, 2 when the claim had expired
// and nobody else holds the key (a late completion: the upstream did
// execute, so the outcome is recorded all the same), 3 when the key already
// holds a record with this lease's token (this call retried after a lost
// reply: done), 0 when another claim or record holds the key (lease lost;
// nothing changed). The record's entry in the quota set lives ttl too.
var finishScript = `
local v = redis.call('GET', KEYS[1])
local state = 2
if v then
	if string.sub(v, 1, 10) == ARGV[1] then
		state = 1
	elseif string.sub(v, 2, 2) ~= 'C' and string.sub(v, 3, 10) == string.sub(ARGV[1], 3, 10) then
		return 3
	else
		return 0
	end
end
if tonumber(ARGV[5]) > 0 then
	if redis.replicate_commands then redis.replicate_commands() end
	local t = redis.call('TIME')
	local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
	local ttl = tonumber(ARGV[3])
	redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
	if redis.call('PTTL', KEYS[2]) < ttl then
		redis.call('PEXPIRE', KEYS[2], ttl)
	end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return state
`

// releaseScript deletes the claim if the lease still holds it, and its
// entry in the quota set.
//
//	KEYS[1] the record, KEYS[2] the client's quota set
//	ARGV[1] the lease's claim prefix
//	ARGV[2] the scope's quota member
//
// Returns 1 when deleted, 0 when the key is gone or held by another.
var releaseScript = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 10) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', KEYS[2], ARGV[2])
	return 1
end
return 0
`
