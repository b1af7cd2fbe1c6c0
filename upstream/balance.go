package upstream

import "math/rand/v2"

// pick chooses a target in rotation that is not in avoid, or one in avoid
// when every live target has been tried; nil when none is in rotation.
//   - round_robin: the next live target in turn.
//   - least_conn: power of two choices (Mitzenmacher): two distinct live
//     targets at random, the one with fewer requests in flight. It
//     approaches least-loaded without a scan or a herd on one target.
func (s *snapshot) pick(p *Pool, avoid []*Target) *Target {
	n := len(s.live)
	switch n {
	case 0:
		return nil
	case 1:
		return s.live[0]
	}
	if len(avoid) > 0 {
		// A retry: the first target not tried yet, from a random start,
		// so a retry neither moves the round-robin turn (which would send
		// every next first attempt to the target that just failed) nor
		// piles onto one neighbour.
		start := rand.IntN(n)
		for k := 0; k < n; k++ {
			if c := s.live[(start+k)%n]; !contains(avoid, c) {
				return c
			}
		}
		return s.live[start]
	}
	var t *Target
	if p.leastConn {
		// Two indexes from one random word, by multiply-shift (Lemire):
		// i in [0,n), j in [0,n-1) moved past i, so they differ.
		r := rand.Uint64()
		i := int((r & 0xffffffff) * uint64(n) >> 32)
		j := int((r >> 32) * uint64(n-1) >> 32)
		if j >= i {
			j++
		}
		a, b := s.live[i], s.live[j]
		t = a
		if b.inflight.Load() < a.inflight.Load() {
			t = b
		}
	} else {
		t = s.live[p.next.Add(1)%uint64(n)]
	}
	return t
}

func contains(ts []*Target, t *Target) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}
