package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
)

// Fingerprint identifies the content of a request that used a key: a
// SHA-256 over method, path, query and body (README.md). It must be
// collision resistant: in replay mode two requests with equal fingerprints
// get the same stored response, so a cheap 64-bit hash would let a crafted
// body receive the response meant for another.
type Fingerprint [sha256.Size]byte

// fingerprintDomain separates these hashes from any other SHA-256 use and
// versions the encoding below. A variable, since converting a constant
// string for an escaping Write would allocate on every call.
var fingerprintDomain = []byte("cobaltgw idempotency fingerprint v1\x00")

type fingerprinter struct {
	h       hash.Hash
	scratch [8]byte
	sum     [sha256.Size]byte
}

// The hash state lives in a pool because a hash.Hash (and every slice passed
// to its methods) escapes to the heap; pooled, a fingerprint allocates nothing.
var fingerprinters = sync.Pool{New: func() any { return &fingerprinter{h: sha256.New()} }}

// NewFingerprint hashes method, path, query (without the '?') and body.
// Each part is preceded by its length, so no two different requests encode
// to the same input (moving a byte from path to query changes the hash).
// Pass the path the upstream receives (after the gateway's normalization)
// and the raw query, so equal requests get equal fingerprints.
func NewFingerprint(method, path, query, body []byte) Fingerprint {
	f := fingerprinters.Get().(*fingerprinter)
	f.h.Reset()
	f.h.Write(fingerprintDomain)
	f.part(method)
	f.part(path)
	f.part(query)
	f.part(body)
	var fp Fingerprint
	copy(fp[:], f.h.Sum(f.sum[:0]))
	fingerprinters.Put(f)
	return fp
}

func (f *fingerprinter) part(p []byte) {
	binary.BigEndian.PutUint64(f.scratch[:], uint64(len(p)))
	f.h.Write(f.scratch[:])
	f.h.Write(p)
}
