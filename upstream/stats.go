package upstream

import "time"

// State is a target's place in rotation.
type State string

const (
	StateUp      State = "up"      // in rotation
	StateEjected State = "ejected" // out until EjectedUntil (passive)
	StateDown    State = "down"    // failing active checks
)

// TargetStats is one target's view for the admin listener and metrics.
type TargetStats struct {
	URL          string
	State        State
	EjectedUntil time.Time // zero unless State is ejected
	InFlight     int64
	Ejections    uint64 // passive ejections so far (kept across reloads)
	LastError    string // last failure seen, passive or active; "" if none
	LastErrorAt  time.Time
}

// Up reports whether the target is in rotation.
func (s TargetStats) Up() bool { return s.State == StateUp }

// Stats is a pool's view for the admin listener and metrics. Counters are
// monotonic (and carried over by WithPrevious).
type Stats struct {
	Name                string
	Targets             []TargetStats // config order
	RetriesOK           uint64        // retries that got an answer
	RetriesFailed       uint64        // retries that failed too
	RetriesBudgetDenied uint64        // retries the budget refused
	StaleConns          uint64        // pooled connections found closed by the upstream before sending (the request went on another)
	Panic               bool          // fewer than panic_threshold of the targets are in rotation: balancing over all
	PanicRequests       uint64        // requests balanced in panic mode
}

// Stats reads the pool's state at its clock's now.
func (p *Pool) Stats() Stats {
	now := p.now()
	st := Stats{
		Name:                p.Name,
		Targets:             make([]TargetStats, len(p.targets)),
		RetriesOK:           p.retriesOK.Load(),
		RetriesFailed:       p.retriesFailed.Load(),
		RetriesBudgetDenied: p.retriesDenied.Load(),
		StaleConns:          p.staleConns.Load(),
		PanicRequests:       p.panicRequests.Load(),
		Panic:               p.current(now).panic,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, t := range p.targets {
		ts := TargetStats{URL: t.URL, State: StateUp, InFlight: t.inflight.Load(), Ejections: t.ejections.Load()}
		switch {
		case t.down:
			ts.State = StateDown
		case t.ejected && now.Before(t.ejectedUntil):
			ts.State, ts.EjectedUntil = StateEjected, t.ejectedUntil
		}
		if r := t.lastErr.Load(); r != nil {
			ts.LastError, ts.LastErrorAt = r.msg, r.at
		}
		st.Targets[i] = ts
	}
	return st
}
