package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStoreUnavailable means the store could not answer or could not hold a
// new claim. The proxy answers 503 store_unavailable and does not forward:
// an unprotected request could execute twice. Every error a Store returns
// from Claim wraps it.
var ErrStoreUnavailable = errors.New("idempotency: store unavailable")

// ErrStoreFull means the memory budget cannot hold a new claim even after
// expired entries were dropped. It wraps ErrStoreUnavailable.
var ErrStoreFull = fmt.Errorf("%w: memory budget exhausted", ErrStoreUnavailable)

// ErrLeaseLost means Complete, Release or Abandon found the key held by
// another request: the lease outlived lock_timeout and the key was claimed
// again. Nothing was changed. The response has been sent either way; the
// proxy logs and counts it, since it means lock_timeout is too short.
var ErrLeaseLost = errors.New("idempotency: lease lost (held past lock_timeout)")

// Store holds claims and records. Implementations are safe for concurrent
// use, and every method is atomic per scope. now is the caller's clock
// (injected in tests); ctx bounds a remote store's round trip.
type Store interface {
	// Claim takes the key for this request if no live entry holds it, or
	// reports the entry that does. A non-nil error means nothing was
	// claimed; it wraps ErrStoreUnavailable (ErrStoreFull for a full budget).
	Claim(ctx context.Context, now time.Time, scope []byte, fp Fingerprint) (ClaimResult, error)
	// Complete records that the upstream answered: the claim becomes a
	// record living ttl from now, with resp kept for replay when the store
	// keeps responses and it fits (else the record says only "used"). resp
	// may be nil. The store copies what it keeps.
	Complete(ctx context.Context, now time.Time, l Lease, resp *Response) error
	// Release frees the key: the upstream was never reached, so a retry
	// may go through.
	Release(ctx context.Context, l Lease) error
	// Abandon records that the outcome is unknown: the key stays taken for
	// ttl from now and a retry is refused rather than executed twice.
	Abandon(ctx context.Context, now time.Time, l Lease) error
	// Stats returns the counters since the store was created.
	Stats() Stats
}

// State is what Claim found.
type State uint8

const (
	// StateClaimed: this request holds the key (Lease) and may be forwarded.
	StateClaimed State = iota + 1
	// StateInFlight: another request holds the key and has no outcome yet.
	StateInFlight
	// StateCompleted: the key was used (answered or abandoned) within ttl.
	StateCompleted
	// StateOverQuota: the key is new but its client already holds
	// max_keys_per_client live entries; nothing was claimed. RetryAfter
	// is the time until the client's oldest entry expires.
	StateOverQuota
)

func (s State) String() string {
	switch s {
	case StateClaimed:
		return "claimed"
	case StateInFlight:
		return "in_flight"
	case StateCompleted:
		return "completed"
	case StateOverQuota:
		return "over_quota"
	}
	return "invalid"
}

// ClaimResult is the outcome of Claim, returned by value.
type ClaimResult struct {
	State State
	// Lease is set when State is StateClaimed: pass it to exactly one of
	// Complete, Release or Abandon.
	Lease Lease
	// SameFingerprint reports, for StateInFlight and StateCompleted,
	// whether the entry was claimed with this request's fingerprint.
	SameFingerprint bool
	// Response is the stored response of a completed key, or nil when there
	// is none to replay (responses not kept, too large for
	// max_stored_response or the budget, or the outcome was unknown). It is
	// shared and read-only.
	Response *Response
	// RetryAfter is set when State is StateOverQuota.
	RetryAfter time.Duration
}

// Lease is the right to finish one claim. Scope aliases the slice passed to
// Claim, which must stay unchanged until the lease is finished.
type Lease struct {
	Scope       []byte
	Fingerprint Fingerprint
	Token       uint64
}

// Header is one stored response field.
type Header struct {
	Name, Value []byte
}

// Response is what a replay sends: the status, the chosen headers (see
// StoredHeaders) and the body, as the client first received them (after
// normalization).
type Response struct {
	Status  int
	Headers []Header
	Body    []byte
	// Unstored says the body streamed past max_stored_response and was
	// not kept: the record is stored without a response, as for any body
	// too large to keep, and a replay is 409.
	Unstored bool
}

// Stats are the store's counters, for metrics.
type Stats struct {
	Claims           uint64 // Claim took the key
	InFlight         uint64 // Claim found a live claim (409 in flight)
	Completed        uint64 // Claim found a record or tombstone
	Replayable       uint64 // ... of which with a stored response and the same fingerprint
	Mismatches       uint64 // Claim found an entry with another fingerprint
	StoreFull        uint64 // Claim refused: budget exhausted (503)
	Releases         uint64 // Release freed a key
	Abandons         uint64 // Abandon kept a key for ttl
	LeasesLost       uint64 // Complete/Release/Abandon found another holder
	LateCompletions  uint64 // Complete/Abandon after the claim had expired (lock_timeout too short)
	ResponsesDropped uint64 // Complete kept the record without its response (too large or over budget)
	Expired          uint64 // entries dropped at expiry
	OverQuota        uint64 // Claim refused: the client holds max_keys_per_client entries (429)
	Entries          int64  // live entries (including not yet swept expired ones)
	Bytes            int64  // accounted bytes (memory store), at most the budget
}
