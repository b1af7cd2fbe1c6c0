package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltgw/cobaltgw/internal/redistest"
)

// These tests run against real redis-server processes (internal/redistest)
// and are skipped where none is installed. Expiry is Redis's clock, so the
// tests that wait for it use short durations and poll with a generous
// deadline rather than sleeping an exact time.

// opTimeout is the client's timeout in the tests: generous, for a shared
// machine under the race detector. TestRedisUnavailable uses a short one.
const opTimeout = 2 * time.Second

func startRedis(t testing.TB, cfg Config) (*Redis, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return newRedisStore(t, []string{srv.Addr()}, cfg, opTimeout), srv
}

func claimR(t testing.TB, s *Redis, scope []byte, fp Fingerprint, want State) ClaimResult {
	t.Helper()
	r, err := s.Claim(ctx, time.Time{}, scope, fp)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if r.State != want {
		t.Fatalf("Claim = %v, want %v", r.State, want)
	}
	return r
}

// pollClaim claims until the result is want (an entry expiring in Redis).
func pollClaim(t testing.TB, s *Redis, scope []byte, fp Fingerprint, want State) ClaimResult {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := s.Claim(ctx, time.Time{}, scope, fp)
		if err == nil && r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("Claim still %v, %v; want %v", r.State, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pttl(t testing.TB, srv *redistest.Server, scope []byte) time.Duration {
	t.Helper()
	v, err := srv.Do("PTTL", redisKey(scope))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

func TestRedisClaimLifecycleConflictMode(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeConflict))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if Decide(ModeConflict, r) != Forward || r.Lease.Token == 0 {
		t.Fatalf("a fresh key: %+v", r)
	}
	second := claimR(t, s, sc, fpA, StateInFlight)
	if Decide(ModeConflict, second) != ConflictInFlight || !second.SameFingerprint {
		t.Fatalf("second claim while in flight: %+v", second)
	}
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	after := claimR(t, s, sc, fpA, StateCompleted)
	if after.Response != nil || Decide(ModeConflict, after) != ConflictReused {
		t.Fatalf("a used key in conflict mode: %+v", after)
	}
	st := s.Stats()
	if st.Claims != 1 || st.InFlight != 1 || st.Completed != 1 || s.Errors() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisReplaySameFingerprintReplaysStoredCopy(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	resp := created()
	if err := s.Complete(ctx, time.Time{}, r.Lease, resp); err != nil {
		t.Fatal(err)
	}
	resp.Body[0] = 'X' // the proxy reuses its buffers
	got := claimR(t, s, sc, fpA, StateCompleted)
	if Decide(ModeReplay, got) != Replay || !sameResponse(got.Response, created()) {
		t.Fatalf("replayed %+v", got.Response)
	}
	if st := s.Stats(); st.Replayable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisReplayDifferentFingerprintIsMismatch(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if inFlight := claimR(t, s, sc, fpB, StateInFlight); inFlight.SameFingerprint {
		t.Fatalf("other body while in flight: %+v", inFlight)
	}
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	got := claimR(t, s, sc, fpB, StateCompleted)
	if got.SameFingerprint || got.Response != nil || Decide(ModeReplay, got) != Mismatch {
		t.Fatalf("other body after completion: %+v", got)
	}
	if st := s.Stats(); st.Mismatches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisReleaseAfterConnectFailureAllowsReclaim(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if err := s.Release(ctx, r.Lease); err != nil {
		t.Fatal(err)
	}
	r2 := claimR(t, s, sc, fpA, StateClaimed)
	if r2.Lease.Token == r.Lease.Token {
		t.Fatal("a new claim reused the released lease's token")
	}
	if err := s.Release(ctx, r.Lease); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("releasing a released lease: %v, want ErrLeaseLost", err)
	}
	claimR(t, s, sc, fpA, StateInFlight) // r2 untouched
	if st := s.Stats(); st.Releases != 1 || st.LeasesLost != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisUnknownOutcomeKeepsKeyUntilTTL(t *testing.T) {
	cfg := testConfig(ModeReplay) // ttl 1h, lock_timeout 1m
	s, srv := startRedis(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if left := pttl(t, srv, sc); left <= 0 || left > cfg.LockTimeout {
		t.Fatalf("claim expires in %v, want at most lock_timeout %v", left, cfg.LockTimeout)
	}
	if err := s.Abandon(ctx, time.Time{}, r.Lease); err != nil {
		t.Fatal(err)
	}
	if left := pttl(t, srv, sc); left <= cfg.TTL-time.Minute || left > cfg.TTL {
		t.Fatalf("abandoned key expires in %v, want ttl %v", left, cfg.TTL)
	}
	got := claimR(t, s, sc, fpA, StateCompleted)
	if got.Response != nil || Decide(ModeReplay, got) != ConflictReused {
		t.Fatalf("retry of an unknown outcome: %+v", got)
	}

	// And it does expire at ttl.
	cfg.TTL = 200 * time.Millisecond
	if err := s.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	sc2 := scopeOf("client-a", "k2")
	r = claimR(t, s, sc2, fpA, StateClaimed)
	if err := s.Abandon(ctx, time.Time{}, r.Lease); err != nil {
		t.Fatal(err)
	}
	pollClaim(t, s, sc2, fpA, StateClaimed)
	if st := s.Stats(); st.Abandons != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisClaimOfVanishedHolderExpiresAfterLockTimeout(t *testing.T) {
	cfg := testConfig(ModeConflict)
	cfg.LockTimeout = 200 * time.Millisecond
	s, _ := startRedis(t, cfg)
	sc := scopeOf("client-a", "k1")
	claimR(t, s, sc, fpA, StateClaimed) // the holder never finishes
	claimR(t, s, sc, fpA, StateInFlight)
	pollClaim(t, s, sc, fpA, StateClaimed)
}

func TestRedisRecordExpiresAfterTTL(t *testing.T) {
	cfg := testConfig(ModeReplay)
	cfg.TTL = 200 * time.Millisecond
	s, _ := startRedis(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	pollClaim(t, s, sc, fpA, StateClaimed)
}

func TestRedisScopesOfTwoCredentialsAreIsolated(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeReplay))
	a, b := scopeOf("client-a", "same-key"), scopeOf("client-b", "same-key")
	ra := claimR(t, s, a, fpA, StateClaimed)
	claimR(t, s, b, fpA, StateClaimed)
	if err := s.Complete(ctx, time.Time{}, ra.Lease, created()); err != nil {
		t.Fatal(err)
	}
	claimR(t, s, b, fpA, StateInFlight)
}

// The claim is deleted behind the lease's back (as lock_timeout would) and
// the key claimed again: the old lease must not touch the new claim.
func TestRedisLeaseLostLeavesNewClaimAlone(t *testing.T) {
	s, srv := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	slow := claimR(t, s, sc, fpA, StateClaimed)
	if _, err := srv.Do("DEL", redisKey(sc)); err != nil {
		t.Fatal(err)
	}
	claimR(t, s, sc, fpA, StateClaimed)
	for name, finish := range map[string]func() error{
		"Complete": func() error { return s.Complete(ctx, time.Time{}, slow.Lease, created()) },
		"Abandon":  func() error { return s.Abandon(ctx, time.Time{}, slow.Lease) },
		"Release":  func() error { return s.Release(ctx, slow.Lease) },
	} {
		if err := finish(); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("%s of a lost lease: %v, want ErrLeaseLost", name, err)
		}
	}
	claimR(t, s, sc, fpA, StateInFlight)
	if st := s.Stats(); st.LeasesLost != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRedisLateCompletionStillRecordsTheOutcome(t *testing.T) {
	s, srv := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if _, err := srv.Do("DEL", redisKey(sc)); err != nil { // the claim expired
		t.Fatal(err)
	}
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	if got := claimR(t, s, sc, fpA, StateCompleted); Decide(ModeReplay, got) != Replay {
		t.Fatalf("after a late completion: %+v", got)
	}
	if st := s.Stats(); st.LateCompletions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A finish that runs twice (a client retry after a lost reply) finds its
// own record: done, nothing changed. Release after it is lease lost.
func TestRedisFinishingTwiceKeepsTheFirstRecord(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeReplay))
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	if err := s.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	if err := s.Abandon(ctx, time.Time{}, r.Lease); err != nil {
		t.Fatalf("Abandon after Complete: %v", err)
	}
	if err := s.Release(ctx, r.Lease); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Release after Complete: %v", err)
	}
	if got := claimR(t, s, sc, fpA, StateCompleted); got.Response == nil {
		t.Fatal("the second finish replaced the record")
	}
}

// A Claim whose script ran but whose reply was lost is retried by the
// client with the same arguments: it must find its own claim, not report
// itself in flight.
func TestRedisRetriedClaimScriptIsClaimed(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeConflict))
	key := keysOf(scopeOf("client-a", "k1"))
	cfg := testConfig(ModeConflict)
	cfg.LockTimeout, cfg.MaxKeysPerClient = time.Minute, 10
	rc := newRedisConfig(cfg)
	claim := string(appendHeader(nil, kindClaimed, 42, fpA))
	for i := range 2 {
		if claimed, _, entry, err := s.runClaim(ctx, key, claim, rc); err != nil || !claimed {
			t.Fatalf("run %d: %v, %q, %v; want claimed", i, claimed, entry, err)
		}
	}
	other := string(appendHeader(nil, kindClaimed, 43, fpA))
	if claimed, _, entry, err := s.runClaim(ctx, key, other, rc); err != nil || claimed || string(entry) != string(claim) {
		t.Fatalf("another claim: %v, %q, %v", claimed, entry, err)
	}
}

func TestRedisResponseNotKeptWhenTooLarge(t *testing.T) {
	cfg := testConfig(ModeReplay)
	s, _ := startRedis(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	big := created()
	big.Body = make([]byte, cfg.MaxStoredResponse+1)
	if err := s.Complete(ctx, time.Time{}, r.Lease, big); err != nil {
		t.Fatal(err)
	}
	got := claimR(t, s, sc, fpA, StateCompleted)
	if got.Response != nil || Decide(ModeReplay, got) != ConflictReused {
		t.Fatalf("oversized response: %+v", got)
	}
	if st := s.Stats(); st.ResponsesDropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A large stored response travels only to a request that may replay it.
func TestRedisLargeResponseRoundTrips(t *testing.T) {
	cfg := testConfig(ModeReplay)
	cfg.MaxStoredResponse = 1 << 20
	s, _ := startRedis(t, cfg)
	sc := scopeOf("client-a", "k1")
	r := claimR(t, s, sc, fpA, StateClaimed)
	big := created()
	big.Body = []byte(strings.Repeat("0123456789abcdef", 1<<16)) // 1 MiB
	if err := s.Complete(ctx, time.Time{}, r.Lease, big); err != nil {
		t.Fatal(err)
	}
	if got := claimR(t, s, sc, fpA, StateCompleted); !sameResponse(got.Response, big) {
		t.Fatal("the 1 MiB response did not round trip")
	}
}

func TestRedisMaxmemoryRefusesClaimsAsStoreFull(t *testing.T) {
	s, srv := startRedis(t, testConfig(ModeConflict))
	for _, args := range [][]string{{"CONFIG", "SET", "maxmemory-policy", "noeviction"}, {"CONFIG", "SET", "maxmemory", "1"}} {
		if _, err := srv.Do(args...); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Claim(ctx, time.Time{}, scopeOf("client-a", "k1"), fpA)
	if !errors.Is(err, ErrStoreFull) || !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Claim at maxmemory: %v, want ErrStoreFull", err)
	}
	if st := s.Stats(); st.StoreFull != 1 || st.Claims != 0 || s.Errors() != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// claimRace has n goroutines claim one scope at once, spread over stores,
// and returns how many got each state.
func claimRace(t *testing.T, stores []*Redis, sc []byte, n int) map[State]int {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		byState = map[State]int{}
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func(s *Redis) {
			defer wg.Done()
			<-start
			r, err := s.Claim(ctx, time.Time{}, sc, fpA)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			byState[r.State]++
			mu.Unlock()
		}(stores[i%len(stores)])
	}
	close(start)
	wg.Wait()
	return byState
}

func TestRedisConcurrentClaimsOfOneKeyForwardExactlyOne(t *testing.T) {
	s, _ := startRedis(t, testConfig(ModeConflict))
	got := claimRace(t, []*Redis{s}, scopeOf("client-a", "race"), 100)
	if got[StateClaimed] != 1 || got[StateInFlight] != 99 {
		t.Fatalf("outcomes %v, want exactly one claim", got)
	}
}

// Two replicas are two stores with their own clients on one Redis.
func TestRedisTwoReplicasShareOneClaim(t *testing.T) {
	cfg := testConfig(ModeReplay)
	srv := redistest.Start(t)
	a := newRedisStore(t, []string{srv.Addr()}, cfg, opTimeout)
	b := newRedisStore(t, []string{srv.Addr()}, cfg, opTimeout)
	sc := scopeOf("client-a", "race")
	got := claimRace(t, []*Redis{a, b}, sc, 100)
	if got[StateClaimed] != 1 || got[StateInFlight] != 99 {
		t.Fatalf("outcomes %v, want exactly one claim across replicas", got)
	}
	if a.Stats().Claims+b.Stats().Claims != 1 {
		t.Fatalf("claims %d + %d", a.Stats().Claims, b.Stats().Claims)
	}
	// Whichever replica holds it completes; the other replays.
	holder, other := a, b
	if b.Stats().Claims == 1 {
		holder, other = b, a
	}
	if _, err := srv.Do("DEL", redisKey(sc)); err != nil {
		t.Fatal(err)
	}
	r := claimR(t, holder, sc, fpA, StateClaimed)
	if err := holder.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
		t.Fatal(err)
	}
	if got := claimR(t, other, sc, fpA, StateCompleted); Decide(ModeReplay, got) != Replay {
		t.Fatalf("the other replica: %+v", got)
	}
}

func TestRedisUnavailableFailsClosedAndRecovers(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := redistest.Start(t)
	s := newRedisStore(t, []string{srv.Addr()}, testConfig(ModeConflict), timeout)
	held := claimR(t, s, scopeOf("client-a", "held"), fpA, StateClaimed)

	// bounded runs op with the proxy's deadline and checks that it fails
	// with ErrStoreUnavailable well within a generous bound.
	bounded := func(name string, op func(context.Context) error) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		err := op(c)
		if !errors.Is(err, ErrStoreUnavailable) {
			t.Errorf("%s: %v, want ErrStoreUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*timeout {
			t.Errorf("%s took %v with a %v deadline", name, d, timeout)
		}
	}
	claim := func(c context.Context) error {
		r, err := s.Claim(c, time.Time{}, scopeOf("client-a", "k1"), fpA)
		if err == nil || r.State != 0 {
			return fmt.Errorf("claimed %+v while Redis is down", r)
		}
		return err
	}
	check := func(phase string) {
		t.Helper()
		bounded(phase+" Claim", claim)
		bounded(phase+" Complete", func(c context.Context) error { return s.Complete(c, time.Time{}, held.Lease, nil) })
		bounded(phase+" Release", func(c context.Context) error { return s.Release(c, held.Lease) })
		bounded(phase+" Abandon", func(c context.Context) error { return s.Abandon(c, time.Time{}, held.Lease) })
		bounded(phase+" Ping", s.Ping)
	}

	srv.Pause() // hung: connections open, no answers
	check("paused")
	srv.Resume()

	srv.Stop() // down: connection refused
	check("stopped")
	if s.Errors() < 8 {
		t.Fatalf("Errors() = %d", s.Errors())
	}

	srv.Restart() // empty: the held claim is gone (no persistence)
	pollClaim(t, s, scopeOf("client-a", "k1"), fpA, StateClaimed)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRedisClusterForwardsExactlyOne(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	cfg := testConfig(ModeReplay)
	cfg.MaxKeysPerClient = 1000 // the scripts touch the record and the client's set on one slot
	a := newRedisStore(t, cl.Addrs(), cfg, opTimeout)
	b := newRedisStore(t, cl.Addrs(), cfg, opTimeout)
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	got := claimRace(t, []*Redis{a, b}, scopeOf("client-a", "race"), 100)
	if got[StateClaimed] != 1 || got[StateInFlight] != 99 {
		t.Fatalf("outcomes %v, want exactly one claim", got)
	}
	// Clients spread over the masters, each client's keys on its slot.
	for i := range 30 {
		sc := scopeOf(fmt.Sprintf("client-%d", i), fmt.Sprintf("k%d", i))
		r := claimR(t, a, sc, fpA, StateClaimed)
		if err := a.Complete(ctx, time.Time{}, r.Lease, created()); err != nil {
			t.Fatal(err)
		}
		if got := claimR(t, b, sc, fpA, StateCompleted); Decide(ModeReplay, got) != Replay {
			t.Fatalf("key %d: %+v", i, got)
		}
	}
	for _, n := range cl.Nodes {
		if keys := n.Info("keyspace", "db0"); keys == "" {
			t.Errorf("node %s holds no key: not spread", n.Addr())
		}
	}
}

// A store made while Redis is down (the gateway starting during an
// outage): operations fail with ErrStoreUnavailable within their deadline,
// and the same store works once Redis is up. With every Cluster seed down
// no client can be made yet, and they fail at once.
func TestRedisStartWhileDown(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := redistest.Start(t)
	srv.Stop()
	s := newRedisStore(t, []string{srv.Addr()}, testConfig(ModeConflict), timeout)
	c, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	_, err := s.Claim(c, time.Time{}, scopeOf("client-a", "k1"), fpA)
	cancel()
	if !errors.Is(err, ErrStoreUnavailable) || time.Since(start) > 10*timeout {
		t.Fatalf("Claim with Redis down: %v after %v", err, time.Since(start))
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Ping with Redis down: %v", err)
	}
	srv.Restart()
	pollClaim(t, s, scopeOf("client-a", "k1"), fpA, StateClaimed)

	a, b := redistest.Start(t), redistest.Start(t)
	a.Stop()
	b.Stop()
	cl := newRedisStore(t, []string{a.Addr(), b.Addr()}, testConfig(ModeConflict), timeout)
	for range 2 {
		start := time.Now()
		if _, err := cl.Claim(ctx, time.Time{}, scopeOf("client-a", "k1"), fpA); !errors.Is(err, ErrStoreUnavailable) || time.Since(start) > 10*timeout {
			t.Fatalf("Claim with every Cluster seed down: %v after %v", err, time.Since(start))
		}
	}
}
