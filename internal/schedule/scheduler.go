package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MaxMissedCount is where counting missed slots stops: a Missed event with
// this Count stands for at least as many.
const MaxMissedCount = 1000

// maxLookBack bounds how far catchUp looks back for the newest slot.
const maxLookBack = 100 * 366 * 24 * time.Hour

// maxSleep bounds one wait of Run, so that a step of the wall clock is
// noticed within it.
const maxSleep = time.Minute

// Errors of Started and Done; test with errors.Is.
var (
	// ErrUnknown: no plan with that id is scheduled.
	ErrUnknown = errors.New("no such plan in the schedule")
	// ErrNoRun: the plan has no run of that slot waiting to start or going.
	ErrNoRun = errors.New("no such run of the plan")
)

// Entry is one plan as the Scheduler sees it.
type Entry struct {
	ID   string
	Spec Spec
	// StartWindow is how long after its slot a run may still start: a slot
	// the scheduler reaches later than that (the server was down), or whose
	// run nobody starts in time (the agent was down), is reported missed.
	StartWindow time.Duration
	// CompletionWindow is how long a run may take from its start before it
	// is reported overdue.
	CompletionWindow time.Duration
	// Last is the newest slot already fired or reported missed, as recorded
	// from earlier events; no slot at or before it is due again.
	Last time.Time
	// Since is when the plan began to count (its creation, or the change
	// of its schedule): slots at or before it are not due. Zero means the
	// time of Put.
	Since time.Time
	// Run is the run that was waiting to start or going when the state was
	// recorded, if any.
	Run *RunState
}

// RunState is a fired run that has not finished.
type RunState struct {
	Slot time.Time
	// Started is when the run started; zero while it waits to start.
	Started time.Time
}

// Kind is what an Event reports.
type Kind int

// Event kinds.
const (
	// Run: the slot is due; start its run, then call Started and, when it
	// ends, Done.
	Run Kind = iota + 1
	// Missed: slots passed without a run.
	Missed
	// Overdue: a run is still going past its completion window. It is
	// reported once; the run goes on until Done.
	Overdue
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Run:
		return "run"
	case Missed:
		return "missed"
	case Overdue:
		return "overdue"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Why a slot was missed.
const (
	// MissedWindow: the scheduler reached the slot after its start window
	// had passed, as when the server was down.
	MissedWindow = "the start window had passed"
	// MissedBusy: the plan's previous run was still waiting or going.
	MissedBusy = "the previous run was still going"
	// MissedNotStarted: the run was fired but not started inside its start
	// window, as when the agent was down.
	MissedNotStarted = "the run did not start inside the start window"
)

// Event is what the Scheduler reports to its handler. The handler records
// Slot as the plan's Last for Run and Missed events before it acts on
// them, so that a restart neither fires nor reports a slot again.
type Event struct {
	Kind Kind
	Plan string
	// Slot is the slot run (Run), the newest slot missed (Missed), or the
	// slot of the overdue run (Overdue).
	Slot time.Time
	// At is the scheduler's time when it reported the event.
	At time.Time
	// Late is At-Slot for a Run: how late the run was fired.
	Late time.Duration
	// First and Count are the oldest slot missed and how many were
	// (Missed; counting stops at MaxMissedCount). Reason says why.
	First  time.Time
	Count  int
	Reason string
	// Started and Deadline are when the overdue run started and when its
	// completion window ended (Overdue).
	Started  time.Time
	Deadline time.Time
}

// plan is the Scheduler's state of one entry.
type plan struct {
	e    Entry
	next time.Time // the next slot; zero when none
	run  *RunState
	slot *item // the next slot in the queue
	wait *item // the run's start window or completion window in the queue
}

// Scheduler fires the slots of many plans from one heap and one timer.
// Its methods are safe for concurrent use.
type Scheduler struct {
	clock Clock
	wake  chan struct{}

	mu    sync.Mutex
	plans map[string]*plan
	q     queue
}

// New returns an empty scheduler on clock.
func New(clock Clock) *Scheduler {
	return &Scheduler{clock: clock, wake: make(chan struct{}, 1), plans: make(map[string]*plan)}
}

// Put adds or replaces a plan. A replaced plan keeps its newest slot and
// its run; its next slot follows the new spec.
func (s *Scheduler) Put(e Entry) error {
	switch {
	case e.ID == "":
		return errors.New("schedule: entry without an id")
	case e.Spec == nil:
		return fmt.Errorf("schedule: plan %q has no spec", e.ID)
	case e.StartWindow <= 0 || e.CompletionWindow <= 0:
		return fmt.Errorf("schedule: plan %q needs positive start and completion windows", e.ID)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.plans[e.ID]
	if p == nil {
		p = &plan{run: e.Run}
		s.plans[e.ID] = p
	} else if e.Run == nil {
		e.Run = p.run
	}
	if p.e.Last.After(e.Last) {
		e.Last = p.e.Last
	}
	if e.Run != nil && e.Run.Slot.After(e.Last) {
		e.Last = e.Run.Slot
	}
	base := latest(e.Last, e.Since, p.e.Since)
	if base.IsZero() {
		base = now
	}
	if e.Since.IsZero() {
		e.Since = base
	}
	p.e, p.run = e, e.Run
	p.next = e.Spec.Next(base)
	s.queueSlot(p)
	s.queueRun(p)
	s.poke()
	return nil
}

// Remove drops a plan; a run it has going is forgotten.
func (s *Scheduler) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.plans[id]; p != nil {
		s.q.clear(&p.slot)
		s.q.clear(&p.wait)
		delete(s.plans, id)
	}
	s.poke()
}

// Started records that the run of slot started at at; from then on its
// completion window runs.
func (s *Scheduler) Started(id string, slot, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.runOf(id, slot)
	if err != nil {
		return err
	}
	if !p.run.Started.IsZero() {
		return fmt.Errorf("%w: the run of %s started already", ErrNoRun, slot.UTC().Format(time.RFC3339))
	}
	p.run.Started = at
	s.queueRun(p)
	s.poke()
	return nil
}

// Done records that the run of slot ended, however it ended.
func (s *Scheduler) Done(id string, slot time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.runOf(id, slot)
	if err != nil {
		return err
	}
	p.run = nil
	s.q.clear(&p.wait)
	s.poke()
	return nil
}

// State returns what to record of a plan: its newest slot fired or missed,
// and its run that has not finished.
func (s *Scheduler) State(id string) (last time.Time, run *RunState, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.plans[id]
	if p == nil {
		return time.Time{}, nil, false
	}
	if p.run != nil {
		r := *p.run
		run = &r
	}
	return p.e.Last, run, true
}

// Next returns the next slot of a plan.
func (s *Scheduler) Next(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.plans[id]
	if p == nil || p.next.IsZero() {
		return time.Time{}, false
	}
	return p.next, true
}

// Len returns the number of plans.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.plans)
}

// Tick handles everything due at the clock's time and returns the events,
// in order of their times. Run calls it; tests may call it directly.
func (s *Scheduler) Tick() []Event {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var events []Event
	for len(s.q) > 0 && !s.q[0].at.After(now) {
		it := s.q[0]
		p := it.p
		switch it.kind {
		case slotDue:
			events = s.due(p, now, events)
		case startBy:
			events = append(events, Event{Kind: Missed, Plan: p.e.ID, Slot: p.run.Slot, At: now,
				First: p.run.Slot, Count: 1, Reason: MissedNotStarted})
			p.run = nil
			s.q.clear(&p.wait)
		case deadline:
			events = append(events, Event{Kind: Overdue, Plan: p.e.ID, Slot: p.run.Slot, At: now,
				Started: p.run.Started, Deadline: it.at})
			s.q.clear(&p.wait)
		}
	}
	return events
}

// due handles p's slot that has come due at now: the newest slot not after
// now runs if it is inside its start window and the plan is idle, every
// older one is reported missed.
func (s *Scheduler) due(p *plan, now time.Time, events []Event) []Event {
	first := p.next
	newest, before, n := catchUp(p.e.Spec, first, now)
	runs := p.run == nil && now.Sub(newest) < p.e.StartWindow
	missed := Event{Kind: Missed, Plan: p.e.ID, Slot: newest, At: now, First: first, Count: n, Reason: MissedWindow}
	switch {
	case runs && n > 1:
		missed.Slot, missed.Count = before, min(n-1, MaxMissedCount)
		events = append(events, missed)
	case !runs && p.run != nil && now.Sub(newest) < p.e.StartWindow:
		missed.Reason = MissedBusy
		fallthrough
	case !runs:
		missed.Count = min(n, MaxMissedCount)
		events = append(events, missed)
	}
	if runs {
		events = append(events, Event{Kind: Run, Plan: p.e.ID, Slot: newest, At: now, Late: now.Sub(newest)})
		p.run = &RunState{Slot: newest}
		s.queueRun(p)
	}
	p.e.Last = newest
	p.next = p.e.Spec.Next(newest)
	if !p.next.After(newest) {
		p.next = time.Time{} // a spec that does not move on is done
	}
	s.queueSlot(p)
	return events
}

// catchUp walks the slots of spec from first, which is not after now, to
// the newest one not after now. It returns that slot, the one before it
// (zero when there is none), and how many slots it passed, counting both
// ends and stopping at MaxMissedCount+1.
func catchUp(spec Spec, first, now time.Time) (newest, before time.Time, n int) {
	newest, n = first, 1
	for n <= MaxMissedCount {
		next := spec.Next(newest)
		if next.IsZero() || next.After(now) || !next.After(newest) {
			return newest, before, n
		}
		before, newest = newest, next
		n++
	}
	// Too many to walk: look back from now for the two newest slots, over
	// spans that double until one holds them both or reaches newest.
	for back := time.Minute; ; back *= 2 {
		from := now.Add(-back)
		reached := back > maxLookBack || !from.After(newest)
		if reached {
			from = newest
		}
		prev, cur := time.Time{}, spec.Next(from)
		if reached {
			prev = newest
		}
		for !cur.IsZero() && cur.After(from) && !cur.After(now) {
			next := spec.Next(cur)
			if next.IsZero() || next.After(now) || !next.After(cur) {
				break
			}
			prev, cur = cur, next
		}
		switch {
		case !cur.IsZero() && cur.After(from) && !cur.After(now) && !prev.IsZero():
			return cur, prev, n
		case reached:
			return newest, before, n
		}
	}
}

// queueSlot queues p's next slot, or nothing when it has none.
func (s *Scheduler) queueSlot(p *plan) {
	if p.next.IsZero() {
		s.q.clear(&p.slot)
		return
	}
	s.q.set(&p.slot, p, slotDue, p.next)
}

// queueRun queues the end of the window p's run is in.
func (s *Scheduler) queueRun(p *plan) {
	switch {
	case p.run == nil:
		s.q.clear(&p.wait)
	case p.run.Started.IsZero():
		s.q.set(&p.wait, p, startBy, p.run.Slot.Add(p.e.StartWindow))
	default:
		s.q.set(&p.wait, p, deadline, p.run.Started.Add(p.e.CompletionWindow))
	}
}

// runOf returns the plan id whose run is of slot.
func (s *Scheduler) runOf(id string, slot time.Time) (*plan, error) {
	p := s.plans[id]
	if p == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, id)
	}
	if p.run == nil || !p.run.Slot.Equal(slot) {
		return nil, fmt.Errorf("%w: plan %q has no run of %s waiting or going", ErrNoRun, id, slot.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// poke wakes Run to look at the queue again.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// wakeAt returns when the first item is due; zero when nothing is queued.
func (s *Scheduler) wakeAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return time.Time{}
	}
	return s.q[0].at
}

// Run handles every event as it comes due, until ctx ends. It calls handle
// from one goroutine with the events that came due together, in order, so
// that the caller can record a thousand plans due at one minute in one
// transaction; handle should hand long work off, since the events behind
// it wait. handle may call Put, Remove, Started and Done.
func (s *Scheduler) Run(ctx context.Context, handle func(context.Context, []Event)) error {
	for {
		if es := s.Tick(); len(es) > 0 {
			handle(ctx, es)
		}
		limit := s.clock.Now().Add(maxSleep)
		at := s.wakeAt()
		if at.IsZero() || at.After(limit) {
			at = limit
		}
		t := s.clock.TimerAt(at)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		case <-s.wake:
			t.Stop()
		}
	}
}

// latest returns the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}
