package limiter

import (
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The bucket claims x/time/rate semantics (README.md "Rate limits"): the
// fuzz target below replays random operations on a bucket and on the
// pinned rate.Limiter and requires the same decisions and the same token
// counts, bit for bit.

var (
	fuzzRates  = []float64{0.1, 0.5, 0.7692307692307693, 1, 2.5, 3, 10, 100, 1e6, math.Inf(1)}
	fuzzBursts = []int{1, 2, 3, 5, 10, 200}
)

// toRate converts a policy rate to the reference's Limit.
func toRate(r float64) rate.Limit {
	if math.IsInf(r, 1) {
		return rate.Inf
	}
	return rate.Limit(r)
}

func FuzzBucketMatchesXTimeRate(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 1, 0, 0, 0, 0, 0, 10, 1, 3, 2, 7, 3, 4, 1, 0, 0})
	f.Add([]byte{1, 4, 2, 200, 0, 0, 0, 0, 0, 3, 9, 5, 2, 1, 1, 255, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 {
			return
		}
		r, b := fuzzRates[int(ops[0])%len(fuzzRates)], fuzzBursts[int(ops[1])%len(fuzzBursts)]
		ref := rate.NewLimiter(toRate(r), b)
		p := &params{limit: (&Policy{Rate: r}).limit(), burst: b}
		bk := newBucket(p)
		now := t0
		for i := 2; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%4, ops[i+1]
			// Times only move forward here; going back is TestTimeGoingBackwardsMintsNothing.
			now = now.Add(time.Duration(arg) * time.Duration(arg) * 100 * time.Microsecond)
			switch op {
			case 0: // a request
				want := ref.AllowN(now, 1)
				got, _ := bk.allow(bk.sync(now, p))
				if got != want {
					t.Fatalf("op %d: allow = %v, rate.Limiter %v", i, got, want)
				}
			case 1: // a look
			case 2: // a give-back
				var res result
				ref.AllowN(now, -1)
				bk.giveBack(now, &res)
			case 3: // a reload
				r2, b2 := fuzzRates[int(arg)%len(fuzzRates)], fuzzBursts[int(arg/16)%len(fuzzBursts)]
				ref.SetLimitAt(now, toRate(r2))
				ref.SetBurstAt(now, b2)
				p = &params{limit: (&Policy{Rate: r2}).limit(), burst: b2, since: now}
				bk.sync(now, p)
			}
			if got, want := bk.advance(now), ref.TokensAt(now); got != want {
				t.Fatalf("op %d (%d): tokens %v, rate.Limiter %v", i, op, got, want)
			}
		}
	})
}

// TestBucketMatchesXTimeRateLongRun drives both for a simulated minute of
// steady over-limit traffic at awkward rates: same admissions, request for
// request.
func TestBucketMatchesXTimeRateLongRun(t *testing.T) {
	for _, r := range fuzzRates[:9] {
		for _, b := range fuzzBursts {
			ref := rate.NewLimiter(toRate(r), b)
			bk := newBucket(&params{limit: r, burst: b})
			admitted := 0
			for i := range 60_000 {
				now := at(time.Duration(i) * time.Millisecond)
				want := ref.AllowN(now, 1)
				got, _ := bk.allow(now)
				if got != want {
					t.Fatalf("rate %v burst %d, request %d: allow = %v, rate.Limiter %v", r, b, i, got, want)
				}
				if got {
					admitted++
				}
			}
			// burst plus a minute of refill, less what the last
			// millisecond had not yet minted.
			if max := b + int(math.Ceil(r*59.999)); admitted > max {
				t.Fatalf("rate %v burst %d: %d admitted in a minute, more than %d", r, b, admitted, max)
			}
		}
	}
}
