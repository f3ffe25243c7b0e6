package schedule

import (
	"container/heap"
	"time"
)

// itemKind is what a queue item waits for.
type itemKind int

const (
	slotDue  itemKind = iota // the plan's next slot
	startBy                  // the end of a fired run's start window
	deadline                 // the end of a started run's completion window
)

// item is one time the scheduler waits for.
type item struct {
	at    time.Time
	kind  itemKind
	p     *plan
	index int // in the queue; -1 when not queued
}

// queue is a min-heap of items by time, then plan, then kind, so that
// items due together are handled in a fixed order.
type queue []*item

func (q queue) Len() int { return len(q) }

func (q queue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	if a.p.e.ID != b.p.e.ID {
		return a.p.e.ID < b.p.e.ID
	}
	return a.kind < b.kind
}

func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *queue) Push(x any) {
	it := x.(*item)
	it.index = len(*q)
	*q = append(*q, it)
}

func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.index = -1
	return it
}

// set queues *slot for p at at, replacing what it held.
func (q *queue) set(slot **item, p *plan, kind itemKind, at time.Time) {
	q.clear(slot)
	*slot = &item{at: at, kind: kind, p: p}
	heap.Push(q, *slot)
}

// clear removes *slot from the queue, if it is there.
func (q *queue) clear(slot **item) {
	if *slot != nil && (*slot).index >= 0 {
		heap.Remove(q, (*slot).index)
	}
	*slot = nil
}
