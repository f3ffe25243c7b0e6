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
