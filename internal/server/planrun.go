package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/plan"
	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/store"
)

// Job kinds of the scheduler.
const (
	jobPlan       = "plan"        // a run due, queued for the agent on one host
	jobPlanMissed = "plan.missed" // slots that passed without a run
	schedulerName = "scheduler"   // the actor of what the scheduler records
)

// timerPoll is how often a scheduler timer looks at the server's clock, so
// that it follows a clock other than the machine's, and steps of it.
const timerPoll = time.Second

// schedClock is the server's clock as the scheduler reads it.
type schedClock struct{ now func() time.Time }

func (c schedClock) Now() time.Time { return c.now() }

func (c schedClock) TimerAt(at time.Time) schedule.Timer {
	t := &pollTimer{c: make(chan time.Time, 1), stop: make(chan struct{})}
	go t.run(c.now, at)
	return t
}

// pollTimer fires once the clock reads at or later.
type pollTimer struct {
	c     chan time.Time
	stop  chan struct{}
	state atomic.Int32 // 0 waiting, 1 fired, 2 stopped
}

func (t *pollTimer) run(now func() time.Time, at time.Time) {
	for {
		n := now()
		d := at.Sub(n)
		if d <= 0 {
			if t.state.CompareAndSwap(0, 1) {
				t.c <- n
			}
			return
		}
		w := time.NewTimer(min(d, timerPoll))
		select {
		case <-t.stop:
			w.Stop()
			return
		case <-w.C:
		}
	}
}

func (t *pollTimer) C() <-chan time.Time { return t.c }

func (t *pollTimer) Stop() bool {
	if t.state.CompareAndSwap(0, 2) {
		close(t.stop)
		return true
	}
	return false
}

// planEntry returns a stored plan as the scheduler sees it, with what its
// runs recorded.
func (s *Server) planEntry(r store.Plan, run store.PlanRun) (schedule.Entry, error) {
	p, err := s.planCache.Decode(r.Spec)
	if err != nil {
		return schedule.Entry{}, fmt.Errorf("stored plan %s: %w", r.Name, err)
	}
	e, err := p.Entry()
	if err != nil {
		return schedule.Entry{}, fmt.Errorf("plan %s: %w", r.Name, err)
	}
	e.Since, e.Last = r.ScheduleSince, run.LastSlot
	if !run.RunSlot.IsZero() {
		e.Run = &schedule.RunState{Slot: run.RunSlot, Started: run.RunStarted}
	}
	return e, nil
}

// loadPlans puts every stored plan into the scheduler.
func (s *Server) loadPlans(ctx context.Context) error {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	return s.st.View(ctx, func(tx store.Tx) error {
		rows, err := tx.Plans(ctx)
		if err != nil {
			return err
		}
		runs, err := tx.PlanRuns(ctx)
		if err != nil {
			return err
		}
		for _, r := range rows {
			e, err := s.planEntry(r, runs[r.Name])
			if err == nil {
				err = s.sched.Put(e)
			}
			if err != nil {
				s.log.Error("schedule plan", "plan", r.Name, "err", err)
			}
		}
		return nil
	})
}

// schedulePlans tells the scheduler of applied changes: written are the
// plans created or updated.
func (s *Server) schedulePlans(changes []plan.PlanChange, written []store.Plan) {
	for _, pc := range changes {
		if pc.Action == plan.Delete {
			s.sched.Remove(pc.Plan)
		}
	}
	for _, r := range written {
		e, err := s.planEntry(r, store.PlanRun{})
		if err == nil {
			err = s.sched.Put(e)
		}
		if err != nil {
			s.log.Error("schedule plan", "plan", r.Name, "err", err)
		}
	}
}

// runScheduler runs the plans' scheduler until ctx ends.
func (s *Server) runScheduler(ctx context.Context) {
	if err := s.sched.Run(ctx, s.onPlanEvents); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("plan scheduler", "err", err)
	}
}

// onPlanEvents records what the scheduler reports, the events that came
// due together in one transaction: with a thousand plans due at one
// minute, one fsync rather than a thousand. Should that transaction fail,
// each event is recorded in one of its own, so that one bad plan does not
// cost the others their runs.
func (s *Server) onPlanEvents(ctx context.Context, es []schedule.Event) {
	ended := make([]bool, len(es))
	err := s.st.Update(ctx, func(tx store.Tx) error {
		for i, e := range es {
			var err error
			if ended[i], err = s.recordPlanEvent(ctx, tx, e); err != nil {
				return fmt.Errorf("plan %s: %w", e.Plan, err)
			}
		}
		return nil
	})
	if err != nil && len(es) > 1 {
		s.log.Warn("record plan events together; recording them one by one", "events", len(es), "err", err)
		for i, e := range es {
			err = s.st.Update(ctx, func(tx store.Tx) error {
				var err error
				ended[i], err = s.recordPlanEvent(ctx, tx, e)
				return err
			})
			if err != nil {
				s.log.Error("record plan event", "plan", e.Plan, "kind", e.Kind.String(), "slot", e.Slot, "err", err)
				ended[i] = false
			}
		}
		err = nil
	}
	if err != nil {
		e := es[0]
		s.log.Error("record plan event", "plan", e.Plan, "kind", e.Kind.String(), "slot", e.Slot, "err", err)
		return
	}
	s.deliver(ctx, nil) // the events' deliveries are due
	for i, e := range es {
		if !ended[i] {
			continue
		}
		if err := s.sched.Done(e.Plan, e.Slot); err != nil {
			s.log.Warn("end a plan's run", "plan", e.Plan, "slot", e.Slot, "err", err)
		}
	}
}

// recordPlanEvent records one event of the scheduler in tx: the slot,
// before anything else, then the jobs and the event. ended reports an
// overdue run that turned out to be over.
func (s *Server) recordPlanEvent(ctx context.Context, tx store.Tx, e schedule.Event) (ended bool, err error) {
	r, err := tx.Plan(ctx, e.Plan)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // deleted meanwhile
	}
	if err != nil {
		return false, err
	}
	switch e.Kind {
	case schedule.Run:
		return false, s.planDue(ctx, tx, r, e)
	case schedule.Missed:
		return false, s.planMissed(ctx, tx, r, e)
	case schedule.Overdue:
		return s.planOverdue(ctx, tx, r, e)
	}
	return false, nil
}

// planOverdue records a run past its completion window. Hosts that never
// started their part of it are failed; when nothing of the run is going
// any more, the run ends (and ended says so) rather than being overdue.
func (s *Server) planOverdue(ctx context.Context, tx store.Tx, r *store.Plan, e schedule.Event) (ended bool, err error) {
	window, err := s.startWindowOf(ctx, tx, r.Name)
	if err != nil {
		return false, err
	}
	done, err := settleRun(ctx, tx, r.Name, e.Slot, window, e.At)
	if err != nil {
		return false, err
	}
	if done {
		return endRun(ctx, tx, r.Name, e.Slot)
	}
	return false, s.record(ctx, tx, nil, event.Envelope{Kind: event.PlanOverdue, Vault: r.Vault, Time: e.At,
		Detail: map[string]any{"plan": e.Plan, "slot": e.Slot.UTC(), "started": e.Started.UTC(), "deadline": e.Deadline.UTC()}})
}

// planDue records a run fired: the slot, a queued job for each host of the
// plan, and the event.
func (s *Server) planDue(ctx context.Context, tx store.Tx, r *store.Plan, e schedule.Event) error {
	if err := tx.SetPlanRun(ctx, &store.PlanRun{Plan: r.Name, LastSlot: e.Slot, RunSlot: e.Slot}); err != nil {
		return err
	}
	p, err := s.planCache.Decode(r.Spec)
	if err != nil {
		return fmt.Errorf("stored plan %s: %w", r.Name, err)
	}
	var jobs []int64
	for _, host := range p.Hosts() {
		j := &store.Job{Kind: jobPlan, Vault: r.Vault, State: store.JobQueued, Started: e.At.UTC(), By: schedulerName,
			Detail: map[string]any{"plan": r.Name, "slot": e.Slot.UTC(), "host": host}}
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		jobs = append(jobs, j.ID)
	}
	return s.record(ctx, tx, nil, event.Envelope{Kind: event.PlanDue, Vault: r.Vault, Time: e.At,
		Detail: map[string]any{"plan": r.Name, "slot": e.Slot.UTC(), "late": e.Late.String(), "hosts": p.Hosts(), "jobs": jobs}})
}

// planMissed records slots missed: the newest of them as the plan's last,
// a failed job and the event. A run fired but not started is over; its
// queued jobs fail.
func (s *Server) planMissed(ctx context.Context, tx store.Tx, r *store.Plan, e schedule.Event) error {
	runs, err := tx.PlanRuns(ctx)
	if err != nil {
		return err
	}
	run := runs[r.Name]
	run.Plan = r.Name
	if e.Slot.After(run.LastSlot) {
		run.LastSlot = e.Slot
	}
	if e.Reason == schedule.MissedNotStarted {
		run.RunSlot, run.RunStarted, run.Host = time.Time{}, time.Time{}, ""
		if err := failQueued(ctx, tx, r.Name, e.Slot, e.At, e.Reason); err != nil {
			return err
		}
	}
	if err := tx.SetPlanRun(ctx, &run); err != nil {
		return err
	}
	data := map[string]any{"plan": r.Name, "slot": e.Slot.UTC(), "first": e.First.UTC(), "count": e.Count, "reason": e.Reason}
	j := &store.Job{Kind: jobPlanMissed, Vault: r.Vault, State: store.JobFailed, Started: e.At.UTC(), Finished: e.At.UTC(),
		By: schedulerName, Detail: data, Error: e.Reason}
	if err := tx.CreateJob(ctx, j); err != nil {
		return err
	}
	return s.record(ctx, tx, nil, event.Envelope{Kind: event.PlanMissed, Vault: r.Vault, Time: e.At, Detail: data})
}

// failQueued fails the queued jobs of a plan's slot.
func failQueued(ctx context.Context, tx store.Tx, name string, slot, at time.Time, reason string) error {
	jobs, err := tx.Jobs(ctx, 1000)
	if err != nil {
		return err
	}
	want := slot.UTC().Format(time.RFC3339Nano)
	for _, j := range jobs {
		if j.Kind != jobPlan || j.State != store.JobQueued || j.Detail["plan"] != name || j.Detail["slot"] != want {
			continue
		}
		j.State, j.Finished, j.Error = store.JobFailed, at.UTC(), reason
		if err := tx.UpdateJob(ctx, &j); err != nil {
			return err
		}
	}
	return nil
}
