package upstream

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// snapshot is the published, immutable view of which targets are in
// rotation. It goes stale only by time: when the earliest ejection ends
// (until), the first reader rebuilds it.
type snapshot struct {
	live    []*Target // in rotation, config order; every target in panic mode
	panic   bool      // fewer than panic_threshold of the targets are in rotation
	ejected []*Target // passively ejected targets (in panic mode, a success ends their ejection)
	until   time.Time // zero: valid until the next state change
	retryAt time.Time // with no live target: when one is next tried
}

// current returns the snapshot valid at now.
func (p *Pool) current(now time.Time) *snapshot {
	s := p.snap.Load()
	if s.until.IsZero() || now.Before(s.until) {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s = p.snap.Load(); s.until.IsZero() || now.Before(s.until) {
		return s
	}
	return p.publishLocked(now)
}

// retryAfter is the whole seconds (rounded up, at least 1) until a target
// is next tried: 1 while one is in rotation.
func (s *snapshot) retryAfter(now time.Time) int {
	if len(s.live) > 0 || s.retryAt.IsZero() {
		return 1
	}
	d := s.retryAt.Sub(now)
	return max(1, int((d+time.Second-1)/time.Second))
}

// publishLocked ends the ejections that are over at now, then builds and
// stores the snapshot. p.mu is held.
func (p *Pool) publishLocked(now time.Time) *snapshot {
	s := &snapshot{live: make([]*Target, 0, len(p.targets))}
	for _, t := range p.targets {
		if t.ejected && !now.Before(t.ejectedUntil) {
			t.ejected = false
			p.log.Info("upstream target back in rotation: ejection over", "target", t.URL)
		}
		if t.ejected && (s.until.IsZero() || t.ejectedUntil.Before(s.until)) {
			s.until = t.ejectedUntil
		}
		if t.ejected {
			s.ejected = append(s.ejected, t)
		}
		if !t.ejected && !t.down {
			s.live = append(s.live, t)
			continue
		}
		if at := p.backAtLocked(t, now); s.retryAt.IsZero() || at.Before(s.retryAt) {
			s.retryAt = at
		}
	}
	// Panic mode (Envoy's panic threshold): with too few targets left,
	// ejection and checks are more likely wrong, or the load would crush
	// the rest; balance over all of them as if all were healthy. A
	// one-target upstream thus never loses its only target.
	if float64(len(s.live)) < p.cfg.PanicThreshold*float64(len(p.targets)) {
		if !p.panicking {
			p.log.Warn("upstream in panic mode: too few targets in rotation, balancing over all of them",
				"in_rotation", len(s.live), "targets", len(p.targets), "panic_threshold", p.cfg.PanicThreshold)
		}
		s.live, s.panic = p.targets, true
	} else if p.panicking {
		p.log.Info("upstream out of panic mode", "in_rotation", len(s.live), "targets", len(p.targets))
	}
	p.panicking = s.panic
	p.snap.Store(s)
	return s
}

// backAtLocked is the earliest time t can be back in rotation: its
// ejection ends at ejectedUntil or at the next passing check; a down
// target needs healthy_after passing checks in a row.
func (p *Pool) backAtLocked(t *Target, now time.Time) time.Time {
	checks := p.cfg.HealthPath != ""
	next := t.nextCheck
	if next.Before(now) {
		next = now
	}
	at := now
	if t.ejected {
		at = t.ejectedUntil
		if checks && next.Before(at) {
			at = next
		}
	}
	if t.down {
		need := max(0, p.cfg.HealthyAfter-1-t.checkPasses)
		if d := next.Add(time.Duration(need) * p.cfg.HealthInterval.D()); d.After(at) {
			at = d
		}
	}
	return at
}

// observe feeds one attempt into passive health. What counts as a
// failure is eject_on's: "gateway_errors" counts connect errors, resets,
// timeouts, bad responses and the statuses 502, 503 and 504; "5xx" every
// 5xx status too. A pooled connection found closed before sending, a
// request that finds every connection busy and a body over
// MaxResponseBody say nothing about the target's health. Any other answer
// is a success: it clears the consecutive failures and, in panic mode
// (when ejected targets get requests), ends the target's ejection.
func (p *Pool) observe(t *Target, f failure, err error, resp *fasthttp.Response, now time.Time) {
	var msg string
	switch f {
	case failStale, failNoFreeConns, failRequestBody:
		// Nothing sent, busy, or the client's body failed (too large,
		// cut, malformed): nothing the target did.
		return
	case failNone:
		code := resp.StatusCode()
		if !p.ejectsOn(code) {
			if t.fails.Load() != 0 {
				t.fails.Store(0)
			}
			if t.streak.Load() != 0 {
				t.streak.Store(0)
			}
			if s := p.snap.Load(); s.panic && contains(s.ejected, t) {
				p.unejectAfterSuccess(t, now)
			}
			return
		}
		msg = "status " + strconv.Itoa(code)
	default:
		if errors.Is(err, fasthttp.ErrBodyTooLarge) {
			return
		}
		msg = err.Error()
	}
	t.lastErr.Store(&errRecord{msg: msg, at: now})
	if t.fails.Add(1) >= int32(p.cfg.EjectAfter) {
		p.eject(t, now)
	}
}

// ejectsOn reports whether an answer with this status counts towards
// ejection.
func (p *Pool) ejectsOn(code int) bool {
	if p.eject5xx {
		return code >= 500 && code <= 599
	}
	return code == 502 || code == 503 || code == 504
}

// unejectAfterSuccess ends t's ejection after a successful request (which
// only an ejected target in panic mode receives).
func (p *Pool) unejectAfterSuccess(t *Target, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.ejected && now.Before(t.ejectedUntil) {
		t.ejected = false
		p.log.Info("upstream target back in rotation: a request succeeded", "target", t.URL)
		p.publishLocked(now)
	}
}

// eject takes t out of rotation for eject_for × 2^(repeats), at most 10×
// eject_for (Envoy's outlier detection), unless max_ejected targets are
// already out.
func (p *Pool) eject(t *Target, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := t.fails.Swap(0)
	if n < int32(p.cfg.EjectAfter) || (t.ejected && now.Before(t.ejectedUntil)) {
		return // counted by another caller, or late answers of an ejected target
	}
	out := 0
	for _, o := range p.targets {
		if o.ejected && now.Before(o.ejectedUntil) {
			out++
		}
	}
	if out >= p.maxEjected {
		p.log.Debug("upstream target not ejected: max_ejected reached", "target", t.URL, "ejected", out)
		return
	}
	base := p.cfg.EjectFor.D()
	k := t.streak.Load()
	d := base << min(k, 4)
	if d > 10*base || d <= 0 {
		d = 10 * base
	}
	if d < 10*base {
		t.streak.Add(1)
	}
	t.ejected, t.ejectedUntil = true, now.Add(d)
	t.ejections.Add(1)
	last := ""
	if r := t.lastErr.Load(); r != nil {
		last = r.msg
	}
	p.log.Warn("upstream target ejected", "target", t.URL, "for", d, "consecutive_failures", n, "last_error", last)
	p.publishLocked(now)
}

// checkResult applies one active check to t: healthy_after passes in a
// row bring a down target back, unhealthy_after failures take it out, and
// a passing check ends a passive ejection (Envoy's
// successful_active_health_check_uneject_host).
func (p *Pool) checkResult(t *Target, err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.nextCheck = now.Add(p.cfg.HealthInterval.D())
	if err == nil {
		t.checkFails = 0
		t.checkPasses++
		t.fails.Store(0)
		if t.down && t.checkPasses >= p.cfg.HealthyAfter {
			t.down = false
			p.log.Info("upstream target healthy: active checks pass", "target", t.URL, "passes", t.checkPasses)
		}
		if t.ejected && now.Before(t.ejectedUntil) {
			t.ejected = false
			p.log.Info("upstream target back in rotation: active check passed", "target", t.URL)
		}
	} else {
		t.checkPasses = 0
		t.checkFails++
		t.lastErr.Store(&errRecord{msg: "health check: " + err.Error(), at: now})
		if !t.down && t.checkFails >= p.cfg.UnhealthyAfter {
			t.down = true
			p.log.Warn("upstream target unhealthy: active checks fail", "target", t.URL, "failures", t.checkFails, "error", err.Error())
		}
	}
	// Republished after every check, so a snapshot without live targets
	// carries a fresh time for the next check.
	p.publishLocked(now)
}

// takeOver copies prev's state of the targets that keep their URL. Both
// p.mu and prev.mu are taken in that order; prev is never a pool that
// could take over p.
func (p *Pool) takeOver(prev *Pool) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	byURL := make(map[string]*Target, len(prev.targets))
	for _, t := range prev.targets {
		byURL[t.URL] = t
	}
	for _, t := range p.targets {
		o := byURL[t.URL]
		if o == nil {
			continue
		}
		t.fails.Store(o.fails.Load())
		t.streak.Store(o.streak.Load())
		t.ejections.Store(o.ejections.Load())
		t.lastErr.Store(o.lastErr.Load())
		t.ejected, t.ejectedUntil = o.ejected, o.ejectedUntil
		if p.cfg.HealthPath != "" {
			// A changed health_path or threshold still starts from the
			// last verdict; the next checks confirm or revert it.
			t.down, t.checkPasses, t.checkFails = o.down, o.checkPasses, o.checkFails
		}
	}
	if prev.Name == p.Name {
		p.retriesOK.Store(prev.retriesOK.Load())
		p.retriesFailed.Store(prev.retriesFailed.Load())
		p.retriesDenied.Store(prev.retriesDenied.Load())
		p.staleConns.Store(prev.staleConns.Load())
		p.panicRequests.Store(prev.panicRequests.Load())
		p.budget.copyFrom(&prev.budget)
	}
}
