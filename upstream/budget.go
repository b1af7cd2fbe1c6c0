package upstream

import (
	"sync/atomic"
	"time"
)

// The retry budget (Finagle's RetryBudget): over any window of
// budgetWindow seconds, retries ≤ retry_budget × requests +
// budgetMinPerSec × budgetWindow. The floor lets a quiet upstream retry at
// all; the share keeps a dead fleet from seeing more than (1 + share) times
// its traffic, whatever `retries` says.
const (
	budgetWindow    = 10 // seconds
	budgetMinPerSec = 3
)

// budget counts requests and retries in one-second buckets, lock-free. A
// bucket is recycled by the first caller of a new second; a count racing
// with that reset may be lost, and concurrent withdrawals may overshoot by
// the number of callers racing: the bound is approximate by that much.
type budget struct {
	b [budgetWindow]bucket
}

type bucket struct {
	sec     atomic.Int64
	reqs    atomic.Int64
	retries atomic.Int64
}

func (b *budget) slot(sec int64) *bucket {
	k := &b.b[uint64(sec)%budgetWindow]
	if s := k.sec.Load(); s < sec && k.sec.CompareAndSwap(s, sec) {
		k.reqs.Store(0)
		k.retries.Store(0)
	}
	return k
}

// deposit counts one request.
func (b *budget) deposit(now time.Time) { b.slot(now.Unix()).reqs.Add(1) }

// withdraw reports whether one more retry fits the budget, and counts it
// when it does.
func (b *budget) withdraw(now time.Time, share float64) bool {
	sec := now.Unix()
	var reqs, retries int64
	for i := range b.b {
		k := &b.b[i]
		if s := k.sec.Load(); s > sec-budgetWindow && s <= sec {
			reqs += k.reqs.Load()
			retries += k.retries.Load()
		}
	}
	if float64(retries+1) > share*float64(reqs)+budgetMinPerSec*budgetWindow {
		return false
	}
	b.slot(sec).retries.Add(1)
	return true
}

func (b *budget) copyFrom(o *budget) {
	for i := range b.b {
		b.b[i].sec.Store(o.b[i].sec.Load())
		b.b[i].reqs.Store(o.b[i].reqs.Load())
		b.b[i].retries.Store(o.b[i].retries.Load())
	}
}
