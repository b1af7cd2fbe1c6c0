package idempotency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	t0  = time.Unix(1_700_000_000, 0)
	ctx = context.Background()
)

func testConfig(mode Mode) Config {
	return Config{
		TTL:               time.Hour,
		LockTimeout:       time.Minute,
		MaxStoredResponse: 64,
		OnReuse:           mode,
		MemoryBudget:      1 << 20,
	}
}

func newMemory(t testing.TB, cfg Config) *Memory {
	t.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func scopeOf(cred, key string) []byte {
	return AppendScope(nil, CredentialToken, cred, nil, []byte("POST"), "/v1/assets", []byte(key))
}

var (
	fpA = NewFingerprint([]byte("POST"), []byte("/v1/assets"), nil, []byte(`{"a":1}`))
	fpB = NewFingerprint([]byte("POST"), []byte("/v1/assets"), nil, []byte(`{"b":2}`))
)

func created() *Response {
	return &Response{Status: 201, Headers: []Header{
		{[]byte("Content-Type"), []byte("application/json")},
		{[]byte("Location"), []byte("/v1/assets/7")},
	}, Body: []byte(`{"id":7}`)}
}

func mustClaim(t *testing.T, m *Memory, now time.Time, scope []byte, fp Fingerprint, want State) ClaimResult {
	t.Helper()
	r, err := m.Claim(ctx, now, scope, fp)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if r.State != want {
		t.Fatalf("Claim = %v, want %v", r.State, want)
	}
	checkAccounting(t, m)
	return r
}

// checkAccounting recomputes the charge from the store's contents: the
// counter must equal it at every step, or the budget bounds nothing.
func checkAccounting(t testing.TB, m *Memory) {
	t.Helper()
	var want int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		want += int64(len(s.chunks)) * chunkCost
		want += int64(s.claims.n+s.records.n) * qitemSize
		free := 0
		for j := s.free; j >= 0; j = s.at(j).next {
			if s.at(j).state != stFree {
				t.Errorf("shard %d: slot %d on the free list is in use", i, j)
			}
			free++
		}
		for k, j := range s.m {
			e := s.at(j)
			if e.state == stFree || e.key != k {
				t.Errorf("shard %d: key %q maps to slot %d holding %q (state %d)", i, k, j, e.key, e.state)
			}
			want += entryCost(e)
		}
		if free+len(s.m) != s.slots() {
			t.Errorf("shard %d: %d free + %d live != %d slots", i, free, len(s.m), s.slots())
		}
		s.mu.Unlock()
	}
	want += m.quota.usage()
	if got := m.used.Load(); got != want {
		t.Fatalf("accounted %d bytes, contents need %d", got, want)
	}
}

func TestClaimLifecycleConflictMode(t *testing.T) {
	m := newMemory(t, testConfig(ModeConflict))
	sc := scopeOf("client-a", "k1")

	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	if Decide(ModeConflict, r) != Forward {
		t.Fatal("a fresh key is not forwarded")
	}
	second := mustClaim(t, m, t0.Add(time.Second), sc, fpA, StateInFlight)
	if Decide(ModeConflict, second) != ConflictInFlight || !second.SameFingerprint {
		t.Fatalf("second claim while in flight: %+v", second)
	}
	if err := m.Complete(ctx, t0.Add(2*time.Second), r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	after := mustClaim(t, m, t0.Add(3*time.Second), sc, fpA, StateCompleted)
	if after.Response != nil {
		t.Fatal("conflict mode kept a response it will never replay")
	}
	if Decide(ModeConflict, after) != ConflictReused {
		t.Fatal("a used key is not 409 reused")
	}
	st := m.Stats()
	if st.Claims != 1 || st.InFlight != 1 || st.Completed != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReplaySameFingerprintReplaysStoredCopy(t *testing.T) {
	m := newMemory(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	resp := created()
	if err := m.Complete(ctx, t0, r.Lease, resp); err != nil {
		t.Fatal(err)
	}
	want := created()
	resp.Body[0] = 'X' // the proxy reuses its buffers: the store must have copied
	resp.Headers[0].Value[0] = 'X'

	got := mustClaim(t, m, t0.Add(time.Minute), sc, fpA, StateCompleted)
	if Decide(ModeReplay, got) != Replay || got.Response == nil {
		t.Fatalf("same fingerprint: %v, %+v", Decide(ModeReplay, got), got)
	}
	if !sameResponse(got.Response, want) {
		t.Fatalf("replayed %+v, want %+v", got.Response, want)
	}
	if st := m.Stats(); st.Replayable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReplayDifferentFingerprintIsMismatch(t *testing.T) {
	m := newMemory(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	inFlight := mustClaim(t, m, t0, sc, fpB, StateInFlight)
	if inFlight.SameFingerprint || Decide(ModeReplay, inFlight) != ConflictInFlight {
		t.Fatalf("other body while in flight: %+v", inFlight)
	}
	if err := m.Complete(ctx, t0, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, m, t0, sc, fpB, StateCompleted)
	if got.SameFingerprint || got.Response != nil || Decide(ModeReplay, got) != Mismatch {
		t.Fatalf("other body after completion: %+v", got)
	}
	if st := m.Stats(); st.Mismatches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReleaseAfterConnectFailureAllowsReclaim(t *testing.T) {
	m := newMemory(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	if err := m.Release(ctx, r.Lease); err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, m)
	r2 := mustClaim(t, m, t0.Add(time.Second), sc, fpA, StateClaimed)
	if r2.Lease.Token == r.Lease.Token {
		t.Fatal("a new claim reused the released lease's token")
	}
	if err := m.Release(ctx, r.Lease); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("releasing a released lease: %v, want ErrLeaseLost", err)
	}
	mustClaim(t, m, t0.Add(time.Second), sc, fpA, StateInFlight) // r2 untouched
}

func TestUnknownOutcomeKeepsKeyUntilTTL(t *testing.T) {
	cfg := testConfig(ModeReplay)
	m := newMemory(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	abandonedAt := t0.Add(30 * time.Second)
	if err := m.Abandon(ctx, abandonedAt, r.Lease); err != nil {
		t.Fatal(err)
	}
	// Well past lock_timeout, just before ttl: the retry is refused.
	got := mustClaim(t, m, abandonedAt.Add(cfg.TTL-time.Nanosecond), sc, fpA, StateCompleted)
	if got.Response != nil || Decide(ModeReplay, got) != ConflictReused {
		t.Fatalf("retry of an unknown outcome: %+v", got)
	}
	mustClaim(t, m, abandonedAt.Add(cfg.TTL), sc, fpA, StateClaimed)
	if st := m.Stats(); st.Abandons != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClaimOfVanishedHolderExpiresAfterLockTimeout(t *testing.T) {
	cfg := testConfig(ModeConflict)
	m := newMemory(t, cfg)
	sc := scopeOf("client-a", "k1")
	mustClaim(t, m, t0, sc, fpA, StateClaimed) // the holder never finishes
	mustClaim(t, m, t0.Add(cfg.LockTimeout-time.Nanosecond), sc, fpA, StateInFlight)
	mustClaim(t, m, t0.Add(cfg.LockTimeout), sc, fpA, StateClaimed)
}

func TestRecordExpiresAfterTTL(t *testing.T) {
	cfg := testConfig(ModeReplay)
	m := newMemory(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	done := t0.Add(10 * time.Second)
	if err := m.Complete(ctx, done, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, done.Add(cfg.TTL-time.Nanosecond), sc, fpA, StateCompleted)
	mustClaim(t, m, done.Add(cfg.TTL), sc, fpA, StateClaimed)
}

func TestScopesOfTwoCredentialsAreIsolated(t *testing.T) {
	m := newMemory(t, testConfig(ModeReplay))
	a, b := scopeOf("client-a", "same-key"), scopeOf("client-b", "same-key")
	ra := mustClaim(t, m, t0, a, fpA, StateClaimed)
	mustClaim(t, m, t0, b, fpA, StateClaimed)
	if err := m.Complete(ctx, t0, ra.Lease, created()); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, t0, b, fpA, StateInFlight) // b still sees only its own claim
}

func TestLeaseLostAfterLockTimeoutLeavesNewClaimAlone(t *testing.T) {
	cfg := testConfig(ModeReplay)
	m := newMemory(t, cfg)
	sc := scopeOf("client-a", "k1")
	slow := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	later := t0.Add(cfg.LockTimeout)
	mustClaim(t, m, later, sc, fpA, StateClaimed)
	for name, finish := range map[string]func() error{
		"Complete": func() error { return m.Complete(ctx, later, slow.Lease, created()) },
		"Abandon":  func() error { return m.Abandon(ctx, later, slow.Lease) },
		"Release":  func() error { return m.Release(ctx, slow.Lease) },
	} {
		if err := finish(); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("%s of a lost lease: %v, want ErrLeaseLost", name, err)
		}
	}
	mustClaim(t, m, later, sc, fpA, StateInFlight)
	if st := m.Stats(); st.LeasesLost != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLateCompletionStillRecordsTheOutcome(t *testing.T) {
	cfg := testConfig(ModeReplay)
	for _, swept := range []bool{false, true} {
		t.Run(fmt.Sprintf("claim swept=%v", swept), func(t *testing.T) {
			m := newMemory(t, cfg)
			sc := scopeOf("client-a", "k1")
			r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
			late := t0.Add(cfg.LockTimeout + time.Second)
			if swept {
				m.sweepAll(late.UnixNano())
				checkAccounting(t, m)
			}
			if err := m.Complete(ctx, late, r.Lease, created()); err != nil {
				t.Fatal(err)
			}
			checkAccounting(t, m)
			got := mustClaim(t, m, late, sc, fpA, StateCompleted)
			if Decide(ModeReplay, got) != Replay {
				t.Fatalf("after a late completion: %+v", got)
			}
			if st := m.Stats(); st.LateCompletions != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestFinishingTwiceIsLeaseLost(t *testing.T) {
	m := newMemory(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	if err := m.Complete(ctx, t0, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	if err := m.Complete(ctx, t0, r.Lease, created()); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("second Complete: %v", err)
	}
	if err := m.Release(ctx, r.Lease); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Release after Complete: %v", err)
	}
	mustClaim(t, m, t0, sc, fpA, StateCompleted)
}

func TestResponseNotKeptWhenTooLarge(t *testing.T) {
	cfg := testConfig(ModeReplay)
	m := newMemory(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	big := created()
	big.Body = make([]byte, cfg.MaxStoredResponse+1)
	if err := m.Complete(ctx, t0, r.Lease, big); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, m, t0, sc, fpA, StateCompleted)
	if got.Response != nil || Decide(ModeReplay, got) != ConflictReused {
		t.Fatalf("oversized response: %+v (a replay must be 409, never a re-execution)", got)
	}
	if st := m.Stats(); st.ResponsesDropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResponseNotKeptWhenOverBudgetButRecordIs(t *testing.T) {
	cfg := testConfig(ModeReplay)
	cfg.MaxStoredResponse = 1 << 20
	sc := scopeOf("client-a", "k1")
	cfg.MemoryBudget = chunkCost + 2*qitemSize + allocSize(len(sc)) + clientCost(Client(sc)) + quotaKeyCost + 100 // a claim, not a 1 KiB body
	m := newMemory(t, cfg)
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	resp := created()
	resp.Body = make([]byte, 1024)
	if err := m.Complete(ctx, t0, r.Lease, resp); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, m, t0, sc, fpA, StateCompleted)
	if got.Response != nil {
		t.Fatal("kept a response past the budget")
	}
	if st := m.Stats(); st.ResponsesDropped != 1 || st.Bytes > cfg.MemoryBudget {
		t.Fatalf("stats %+v", st)
	}
}

func TestStoreFullRefusesAndClaimsNothing(t *testing.T) {
	cfg := testConfig(ModeConflict)
	one := chunkCost + 2*qitemSize + allocSize(len(scopeOf("client-a", "k0")))
	cfg.MemoryBudget = 3 * one
	m := newMemory(t, cfg)

	var claimed [][]byte
	var refused []byte
	for i := 0; refused == nil; i++ {
		sc := scopeOf("client-a", fmt.Sprintf("k%d", i))
		r, err := m.Claim(ctx, t0, sc, fpA)
		switch {
		case errors.Is(err, ErrStoreFull):
			if !errors.Is(err, ErrStoreUnavailable) || r.State != 0 || r.Lease.Token != 0 {
				t.Fatalf("refusal: %+v, %v", r, err)
			}
			refused = sc
		case err != nil:
			t.Fatal(err)
		default:
			claimed = append(claimed, sc)
		}
	}
	checkAccounting(t, m)
	before := m.Stats()
	if _, err := m.Claim(ctx, t0, refused, fpA); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("refused key claimed on retry: %v", err)
	}
	if st := m.Stats(); st.Claims != before.Claims || st.Entries != before.Entries || st.Bytes > cfg.MemoryBudget {
		t.Fatalf("a refused claim changed the store: %+v → %+v", before, st)
	}
	// Known keys still get their answer while full: no 503 for a conflict.
	mustClaim(t, m, t0, claimed[0], fpA, StateInFlight)
	// Once the claims expire, the sweep makes room and the key is free.
	mustClaim(t, m, t0.Add(cfg.LockTimeout), refused, fpA, StateClaimed)
}

func TestConcurrentClaimsOfOneKeyForwardExactlyOne(t *testing.T) {
	m := newMemory(t, testConfig(ModeConflict))
	sc := scopeOf("client-a", "race")
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		byState = map[State]int{}
		start   = make(chan struct{})
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := m.Claim(ctx, t0, sc, fpA)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			byState[r.State]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if byState[StateClaimed] != 1 || byState[StateInFlight] != 99 {
		t.Fatalf("outcomes %v, want exactly one claimed", byState)
	}
	checkAccounting(t, m)
}

func TestConcurrentMixedOperationsKeepAccountingExact(t *testing.T) {
	cfg := testConfig(ModeReplay)
	cfg.MemoryBudget = 128 << 10 // small: some claims are refused
	m := newMemory(t, cfg)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * time.Second)
				sc := scopeOf(fmt.Sprintf("client-%d", g), fmt.Sprintf("k%d", i%300))
				r, err := m.Claim(ctx, now, sc, fpA)
				if err != nil || r.State != StateClaimed {
					continue
				}
				switch i % 3 {
				case 0:
					_ = m.Complete(ctx, now, r.Lease, created())
				case 1:
					_ = m.Release(ctx, r.Lease)
				case 2:
					_ = m.Abandon(ctx, now, r.Lease)
				}
			}
		}()
	}
	wg.Wait()
	checkAccounting(t, m)
	if st := m.Stats(); st.Bytes > cfg.MemoryBudget {
		t.Fatalf("accounted %d bytes over a budget of %d", st.Bytes, cfg.MemoryBudget)
	}
	// Everything expires: every shard is empty and compacted, nothing is charged.
	m.sweepAll(t0.Add(2000*time.Second + cfg.TTL).UnixNano())
	checkAccounting(t, m)
	if st := m.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}

func TestConfigIsValidated(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"zero ttl", func(c *Config) { c.TTL = 0 }},
		{"negative lock_timeout", func(c *Config) { c.LockTimeout = -time.Second }},
		{"negative max_stored_response", func(c *Config) { c.MaxStoredResponse = -1 }},
		{"zero budget", func(c *Config) { c.MemoryBudget = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			if _, err := NewMemory(cfg); err == nil {
				t.Fatal("NewMemory accepted it")
			}
			m := newMemory(t, DefaultConfig())
			if err := m.Reconfigure(cfg); err == nil {
				t.Fatal("Reconfigure accepted it")
			}
		})
	}
}

func TestReconfigureKeepsEntries(t *testing.T) {
	m := newMemory(t, testConfig(ModeConflict))
	sc := scopeOf("client-a", "k1")
	r := mustClaim(t, m, t0, sc, fpA, StateClaimed)
	cfg := testConfig(ModeReplay)
	cfg.TTL = 2 * time.Hour
	if err := m.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, t0, sc, fpA, StateInFlight)
	if err := m.Complete(ctx, t0, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, m, t0.Add(90*time.Minute), sc, fpA, StateCompleted)
	if Decide(ModeReplay, got) != Replay {
		t.Fatalf("after switching to replay: %+v", got)
	}
}

func TestStaleExpiryItemDoesNotExpireTheSlotsNextEntry(t *testing.T) {
	cfg := testConfig(ModeConflict)
	m := newMemory(t, cfg)
	a := scopeOf("client-a", "first")
	var b []byte
	for i := 0; b == nil; i++ { // a key in the same shard, so it reuses a's slot
		if sc := scopeOf("client-a", fmt.Sprint("second-", i)); m.shard(sc) == m.shard(a) {
			b = sc
		}
	}
	ra := mustClaim(t, m, t0, a, fpA, StateClaimed)
	if err := m.Release(ctx, ra.Lease); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, m, t0.Add(30*time.Second), b, fpA, StateClaimed)
	// a's claim item expires now and names the slot b took over.
	m.sweepAll(t0.Add(cfg.LockTimeout).UnixNano())
	checkAccounting(t, m)
	mustClaim(t, m, t0.Add(cfg.LockTimeout), b, fpA, StateInFlight)
}

func TestCompactionAfterMassExpiryKeepsSurvivors(t *testing.T) {
	cfg := testConfig(ModeReplay)
	cfg.MemoryBudget = 64 << 20
	m := newMemory(t, cfg)
	for i := range 40_000 {
		if _, err := m.Claim(ctx, t0, scopeOf("client-a", fmt.Sprint("old-", i)), fpA); err != nil {
			t.Fatal(err)
		}
	}
	peak := m.Stats().Bytes
	var survivors []ClaimResult
	for i := range 100 {
		survivors = append(survivors, mustClaim(t, m, t0.Add(50*time.Second), scopeOf("client-a", fmt.Sprint("new-", i)), fpA, StateClaimed))
	}
	now := t0.Add(cfg.LockTimeout)
	m.sweepAll(now.UnixNano())
	checkAccounting(t, m)
	if st := m.Stats(); st.Entries != 100 || st.Bytes > peak/20 {
		t.Fatalf("after the mass expiry: %d entries, %d bytes (peak %d): shards were not compacted", st.Entries, st.Bytes, peak)
	}
	// The survivors moved slots; their leases, lookups and expiry still work.
	for i, r := range survivors {
		mustClaim(t, m, now, r.Lease.Scope, fpA, StateInFlight)
		if i%2 == 0 {
			if err := m.Complete(ctx, now, r.Lease, created()); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkAccounting(t, m)
	later := t0.Add(50*time.Second + cfg.LockTimeout)
	for i, r := range survivors {
		want := StateClaimed // the unfinished claims expired on time
		if i%2 == 0 {
			want = StateCompleted
		}
		mustClaim(t, m, later, r.Lease.Scope, fpA, want)
	}
}
