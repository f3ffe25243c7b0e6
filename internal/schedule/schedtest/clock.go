// Package schedtest provides a clock that tests set by hand, for code that
// runs a schedule.Scheduler.
package schedtest

import (
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/schedule"
)

// Clock is a schedule.Clock that moves only when Set or Advance is called.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a clock that reads now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forward or back, and fires the timers due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.fireIfDue(t) {
			kept = append(kept, tm)
		}
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Waiting returns the number of timers that have not fired or stopped.
func (c *Clock) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.done() {
			n++
		}
	}
	return n
}

// TimerAt returns a timer that fires when the clock reaches at.
func (c *Clock) TimerAt(at time.Time) schedule.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	tm := &timer{at: at, ch: make(chan time.Time, 1)}
	if !tm.fireIfDue(c.now) {
		c.timers = append(c.timers, tm)
	}
	return tm
}

type timer struct {
	mu      sync.Mutex
	at      time.Time
	ch      chan time.Time
	fired   bool
	stopped bool
}

func (t *timer) fireIfDue(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || t.fired {
		return true
	}
	if now.Before(t.at) {
		return false
	}
	t.fired = true
	t.ch <- now
	return true
}

func (t *timer) done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fired || t.stopped
}

// C returns the channel the timer fires on.
func (t *timer) C() <-chan time.Time { return t.ch }

// Stop stops the timer and reports whether it had not fired.
func (t *timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := !t.fired && !t.stopped
	t.stopped = true
	return was
}
