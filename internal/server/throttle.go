package server

import (
	"sync"
	"time"
)

// throttle slows password guessing: after a few failed logins for a name,
// or from an address, further attempts are refused for a while that doubles
// with every failure, up to a limit. It lives in memory; a restart forgets
// it.
type throttle struct {
	mu    sync.Mutex
	now   func() time.Time
	state map[string]*failures
}

type failures struct {
	count int
	last  time.Time
	until time.Time
}

// Throttle settings.
const (
	freeFailures  = 5                // failures before attempts are refused
	failureWindow = 15 * time.Minute // failures older than this are forgotten
	firstBlock    = time.Minute
	maxBlock      = 15 * time.Minute
	maxTracked    = 100000 // keys kept at most; the oldest are dropped beyond
)

func newThrottle(now func() time.Time) *throttle {
	return &throttle{now: now, state: map[string]*failures{}}
}

// wait returns how long attempts for any of keys are refused; zero when
// they are allowed.
func (t *throttle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var longest time.Duration
	for _, k := range keys {
		if f, ok := t.state[k]; ok && now.Before(f.until) {
			longest = max(longest, f.until.Sub(now))
		}
	}
	return longest
}

// fail records a failed attempt for every key.
func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.state) > maxTracked {
		t.prune(now)
	}
	for _, k := range keys {
		f := t.state[k]
		if f == nil || now.Sub(f.last) > failureWindow {
			f = &failures{}
			t.state[k] = f
		}
		f.count++
		f.last = now
		if f.count >= freeFailures {
			block := firstBlock << min(f.count-freeFailures, 10)
			f.until = now.Add(min(block, maxBlock))
		}
	}
}

// succeed forgets the failures of keys.
func (t *throttle) succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.state, k)
	}
}

func (t *throttle) prune(now time.Time) {
	for k, f := range t.state {
		if now.Sub(f.last) > failureWindow && !now.Before(f.until) {
			delete(t.state, k)
		}
	}
}

// floodGate counts commits in fixed windows per key (a vault, a
// principal) and refuses those over a key's limit until its window ends,
// so that a taken-over host cannot bury a vault's real points under a
// flood of new ones. It lives in memory; a restart starts new windows.
type floodGate struct {
	mu     sync.Mutex
	now    func() time.Time
	window time.Duration
	counts map[string]*commitWindow
}

type commitWindow struct {
	start   time.Time
	n       int
	alerted bool // the window's first refusal was reported
}

// floodLimit is one key a commit counts against and its limit per window;
// a limit below 1 does not limit.
type floodLimit struct {
	key   string
	limit int
}

// floodRefusal says which limit refused a commit.
type floodRefusal struct {
	key   string
	limit int
	retry time.Duration // until the key's window ends
	alert bool          // the first refusal of the key's window
}

func newFloodGate(now func() time.Time, window time.Duration) *floodGate {
	return &floodGate{now: now, window: window, counts: map[string]*commitWindow{}}
}

// admit counts a commit against every limit, or, when one of them has
// been reached in its window, counts nothing and returns the refusal.
func (g *floodGate) admit(limits ...floodLimit) *floodRefusal {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.counts) > maxTracked {
		g.prune(now)
	}
	for _, l := range limits {
		if l.limit < 1 {
			continue
		}
		w := g.current(l.key, now)
		if w.n >= l.limit {
			r := &floodRefusal{key: l.key, limit: l.limit, retry: w.start.Add(g.window).Sub(now), alert: !w.alerted}
			w.alerted = true
			return r
		}
	}
	for _, l := range limits {
		if l.limit >= 1 {
			g.current(l.key, now).n++
		}
	}
	return nil
}

// current returns key's window at now, starting a new one when the last
// has ended.
func (g *floodGate) current(key string, now time.Time) *commitWindow {
	w := g.counts[key]
	if w == nil || !now.Before(w.start.Add(g.window)) || now.Before(w.start) {
		w = &commitWindow{start: now}
		g.counts[key] = w
	}
	return w
}

// seed counts a commit made at t, before the gate existed, against key:
// commits must be seeded oldest first, and the window starts at the
// first.
func (g *floodGate) seed(key string, t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.counts[key]
	if w == nil {
		w = &commitWindow{start: t}
		g.counts[key] = w
	}
	w.n++
}

func (g *floodGate) prune(now time.Time) {
	for k, w := range g.counts {
		if !now.Before(w.start.Add(g.window)) {
			delete(g.counts, k)
		}
	}
}
