package idempotency

// An expiry queue holds (slot, expiry) items in the order they were pushed.
// All claims of a store live lock_timeout and all records live ttl, so with
// a clock that does not run backwards each queue is sorted by expiry and
// the sweep only ever looks at its head: O(1) per expired entry, no heap,
// no timer goroutine. (A clock stepping back, or a Reconfigure that changes
// the durations, only delays reclamation behind a later head; lookups check
// each entry's own expiry, so correctness never depends on the order.)
//
// An item names a slab slot, not a key: popping one costs no hashing, and
// an item whose entry has moved on (completed, released, replaced) is
// recognised by the slot's own expiry and skipped.

type qitem struct {
	exp  int64 // unix nanoseconds
	slot int32
}

const qblockLen = 64

type qblock struct {
	items [qblockLen]qitem
	next  *qblock
}

// queue is a FIFO of fixed-size blocks: pushing allocates one block per
// qblockLen items (and reuses the last freed one), and memory follows the
// number of items instead of the high-water mark of a ring buffer.
type queue struct {
	head, tail *qblock
	hi, ti     int // next item to pop in head, next free slot in tail
	n          int
	spare      *qblock
}

func (q *queue) push(it qitem) {
	if q.tail == nil || q.ti == qblockLen {
		b := q.spare
		if b != nil {
			q.spare = nil
		} else {
			b = new(qblock)
		}
		if q.tail == nil {
			q.head, q.hi = b, 0
		} else {
			q.tail.next = b
		}
		q.tail, q.ti = b, 0
	}
	q.tail.items[q.ti] = it
	q.ti++
	q.n++
}

// peek returns the oldest item; ok is false when the queue is empty.
func (q *queue) peek() (it qitem, ok bool) {
	if q.n == 0 {
		return qitem{}, false
	}
	return q.head.items[q.hi], true
}

// pop drops the oldest item. The queue must not be empty.
func (q *queue) pop() {
	q.hi++
	q.n--
	if q.n == 0 {
		// Empty means head == tail: a block is only linked to receive an item.
		q.hi, q.ti = 0, 0
		return
	}
	if q.hi == qblockLen {
		old := q.head
		q.head, q.hi = old.next, 0
		old.next = nil
		q.spare = old
	}
}

// rewrite replaces the queue by f applied to each item in order, dropping
// the items f rejects, and returns how many it dropped.
func (q *queue) rewrite(f func(qitem) (qitem, bool)) (dropped int) {
	var nq queue
	for q.n > 0 {
		it, _ := q.peek()
		q.pop()
		if it, ok := f(it); ok {
			nq.push(it)
		} else {
			dropped++
		}
	}
	*q = nq
	return dropped
}
