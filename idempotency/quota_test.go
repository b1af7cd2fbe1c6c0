package idempotency

import (
	"testing"
	"time"
)

// TestMemoryQuota: max_keys_per_client live entries per client; a new key
// beyond is refused with the time until the client's oldest entry
// expires; a used key still answers as before; other clients are
// unaffected; released and expired keys free the share.
func TestMemoryQuota(t *testing.T) {
	cfg := testConfig(ModeConflict) // lock_timeout 1m, ttl 1h
	cfg.MaxKeysPerClient = 3
	m := newMemory(t, cfg)
	var leases []Lease
	for _, k := range []string{"k1", "k2", "k3"} {
		leases = append(leases, mustClaim(t, m, t0, scopeOf("client-a", k), fpA, StateClaimed).Lease)
	}
	over := mustClaim(t, m, t0.Add(10*time.Second), scopeOf("client-a", "k4"), fpA, StateOverQuota)
	if over.RetryAfter != 50*time.Second || Decide(ModeConflict, over) != OverQuota {
		t.Fatalf("over quota: %+v, want RetryAfter 50s (the oldest claim's lock_timeout)", over)
	}
	// A key the client already holds is judged as before, not refused.
	mustClaim(t, m, t0.Add(10*time.Second), scopeOf("client-a", "k1"), fpA, StateInFlight)
	// Another client has its own share.
	mustClaim(t, m, t0.Add(10*time.Second), scopeOf("client-b", "k4"), fpA, StateClaimed)

	// Completed records live ttl: the oldest is now k3's claim.
	for _, l := range leases[:2] {
		if err := m.Complete(ctx, t0.Add(20*time.Second), l, nil); err != nil {
			t.Fatal(err)
		}
	}
	over = mustClaim(t, m, t0.Add(30*time.Second), scopeOf("client-a", "k4"), fpA, StateOverQuota)
	if over.RetryAfter != 30*time.Second {
		t.Fatalf("RetryAfter %v, want 30s", over.RetryAfter)
	}
	// A released claim frees its place at once.
	if err := m.Release(ctx, leases[2]); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, t0.Add(31*time.Second), scopeOf("client-a", "k4"), fpA, StateClaimed)
	over = mustClaim(t, m, t0.Add(32*time.Second), scopeOf("client-a", "k5"), fpA, StateOverQuota)
	if over.RetryAfter != 59*time.Second { // k4's claim, until t0+91s
		t.Fatalf("RetryAfter %v, want 59s", over.RetryAfter)
	}
	// Expired entries free it too, and nothing is left over afterwards.
	mustClaim(t, m, t0.Add(2*time.Hour), scopeOf("client-a", "k5"), fpA, StateClaimed)
	m.sweepAll(t0.Add(3 * time.Hour).UnixNano())
	checkAccounting(t, m)
	if st := m.Stats(); st.Bytes != 0 || st.OverQuota != 3 {
		t.Fatalf("stats after expiry: %+v", st)
	}
}

func TestMemoryQuotaZeroIsUnlimited(t *testing.T) {
	cfg := testConfig(ModeConflict)
	cfg.MaxKeysPerClient = 0
	m := newMemory(t, cfg)
	for i := range 100 {
		mustClaim(t, m, t0, scopeOf("client-a", string(rune('a'+i%26))+string(rune('a'+i/26))), fpA, StateClaimed)
	}
}

// TestRedisQuota: the Redis store keeps the same shares, atomically with
// the record (one script), on Redis's clock.
func TestRedisQuota(t *testing.T) {
	cfg := testConfig(ModeConflict) // lock_timeout 1m, ttl 1h
	cfg.MaxKeysPerClient = 2
	s, srv := startRedis(t, cfg)
	k1 := claimR(t, s, scopeOf("client-a", "k1"), fpA, StateClaimed)
	k2 := claimR(t, s, scopeOf("client-a", "k2"), fpA, StateClaimed)
	over := claimR(t, s, scopeOf("client-a", "k3"), fpA, StateOverQuota)
	if over.RetryAfter <= 55*time.Second || over.RetryAfter > time.Minute {
		t.Fatalf("RetryAfter %v, want about a minute (the oldest claim's lock_timeout)", over.RetryAfter)
	}
	claimR(t, s, scopeOf("client-a", "k1"), fpA, StateInFlight)
	claimR(t, s, scopeOf("client-b", "k3"), fpA, StateClaimed)
	if err := s.Release(ctx, k2.Lease); err != nil {
		t.Fatal(err)
	}
	claimR(t, s, scopeOf("client-a", "k3"), fpA, StateClaimed)
	if err := s.Complete(ctx, time.Time{}, k1.Lease, nil); err != nil {
		t.Fatal(err)
	}
	// k3's claim (a minute) is now the oldest, k1's record lives an hour.
	over = claimR(t, s, scopeOf("client-a", "k4"), fpA, StateOverQuota)
	if over.RetryAfter > time.Minute {
		t.Fatalf("RetryAfter %v, want at most a minute", over.RetryAfter)
	}
	k := keysOf(scopeOf("client-a", "k1"))
	if n, err := srv.Do("ZCARD", k.quota); err != nil || n != "2" {
		t.Fatalf("ZCARD = %v, %v; want 2", n, err)
	}
	if ttl, err := srv.Do("PTTL", k.quota); err != nil || len(ttl) < 7 { // ≥ 1000000 ms

		t.Fatalf("quota set PTTL = %v, %v; want about the ttl", ttl, err)
	}
	// A record that vanished (evicted, deleted) frees its place.
	if _, err := srv.Do("DEL", k.record); err != nil {
		t.Fatal(err)
	}
	claimR(t, s, scopeOf("client-a", "k1"), fpA, StateClaimed)
	if st := s.Stats(); st.OverQuota != 2 {
		t.Fatalf("OverQuota = %d, want 2", st.OverQuota)
	}
}
