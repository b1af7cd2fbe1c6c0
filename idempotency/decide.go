package idempotency

import "fmt"

// Mode is [idempotency].on_reuse: what a second request with a used key gets.
type Mode uint8

const (
	// ModeConflict ("conflict", the default and documented semantics): any
	// reuse within ttl is 409.
	ModeConflict Mode = iota
	// ModeReplay ("replay", IETF draft and Stripe semantics): a completed
	// key with the same fingerprint replays the stored response.
	ModeReplay
)

// ParseMode reads an on_reuse value.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "conflict", "":
		return ModeConflict, nil
	case "replay":
		return ModeReplay, nil
	}
	return 0, fmt.Errorf("idempotency: on_reuse %q: want \"conflict\" or \"replay\"", s)
}

func (m Mode) String() string {
	if m == ModeReplay {
		return "replay"
	}
	return "conflict"
}

// Action is what the proxy does with a request after Claim.
type Action uint8

const (
	// Forward: this request holds the key; forward it and finish the lease.
	Forward Action = iota + 1
	// Replay: write ClaimResult.Response with Idempotent-Replayed: true and
	// fresh RateLimit fields; the upstream is not reached.
	Replay
	// ConflictInFlight: 409 idempotency_key_in_flight.
	ConflictInFlight
	// ConflictReused: 409 idempotency_key_reused.
	ConflictReused
	// Mismatch: 422 idempotency_key_mismatch (replay mode, another request
	// body or target under the same key).
	Mismatch
	// OverQuota: 429 idempotency_quota_exceeded with Retry-After from
	// ClaimResult.RetryAfter; the upstream is not reached.
	OverQuota
)

func (a Action) String() string {
	switch a {
	case Forward:
		return "forward"
	case Replay:
		return "replay"
	case ConflictInFlight:
		return "in_flight"
	case ConflictReused:
		return "reused"
	case Mismatch:
		return "mismatch"
	case OverQuota:
		return "over_quota"
	}
	return "invalid"
}

// Decide applies on_reuse to a Claim result (README.md, Idempotency):
//
//	claimed                         → Forward (both modes)
//	in flight                       → ConflictInFlight (both modes)
//	over the client's quota         → OverQuota (both modes)
//	completed, conflict             → ConflictReused
//	completed, replay, other fp     → Mismatch
//	completed, replay, same fp      → Replay, or ConflictReused when no
//	                                  response was kept (too large, outcome unknown)
//
// A zero ClaimResult (as returned with an error) never yields Forward.
func Decide(mode Mode, r ClaimResult) Action {
	switch r.State {
	case StateClaimed:
		return Forward
	case StateInFlight:
		return ConflictInFlight
	case StateOverQuota:
		return OverQuota
	}
	if mode != ModeReplay {
		return ConflictReused
	}
	if !r.SameFingerprint {
		return Mismatch
	}
	if r.Response == nil {
		return ConflictReused
	}
	return Replay
}
