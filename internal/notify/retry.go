package notify

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of RetryPolicy: waits of about 2s, 4s, 8s, … 128s, some four
// minutes in all.
const (
	DefaultBaseDelay   = 2 * time.Second
	DefaultMaxDelay    = 5 * time.Minute
	DefaultMaxAttempts = 8
	maxMaxAttempts     = 100
	maxMaxDelay        = 24 * time.Hour
)

// RetryPolicy says how failed attempts are repeated. After the n-th failed
// attempt the wait is BaseDelay·2ⁿ⁻¹, at most MaxDelay, less a random part
// of up to half of it (jitter, so that many senders do not retry in step);
// a receiver's Retry-After makes the wait longer if it asks for more. A
// permanent failure is never retried.
type RetryPolicy struct {
	// BaseDelay is the wait after the first failed attempt; 0 means
	// DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps every wait; 0 means DefaultMaxDelay. A receiver that
	// asks to wait longer than this fails the delivery at once.
	MaxDelay time.Duration
	// MaxAttempts is how many attempts are made in all, the first
	// included; 0 means DefaultMaxAttempts, 1 means no retry.
	MaxAttempts int
}

// withDefaults validates p and fills in its zero fields.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.BaseDelay == 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(DefaultMaxDelay, p.BaseDelay)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	switch {
	case p.BaseDelay < 0 || p.MaxDelay < p.BaseDelay || p.MaxDelay > maxMaxDelay:
		return p, fmt.Errorf("notify: retry delays %v to %v: want 0 < base ≤ max ≤ %v", p.BaseDelay, p.MaxDelay, maxMaxDelay)
	case p.MaxAttempts < 0 || p.MaxAttempts > maxMaxAttempts:
		return p, fmt.Errorf("notify: %d attempts: want 1 to %d", p.MaxAttempts, maxMaxAttempts)
	}
	return p, nil
}

// next returns the wait after failed attempt n (counting from 1) that
// ended in err, or why no further attempt is made.
func (p RetryPolicy) next(n int, err error) (time.Duration, string) {
	if IsPermanent(err) {
		return 0, "failed permanently"
	}
	if n >= p.MaxAttempts {
		return 0, "gave up"
	}
	wait := p.backoff(n)
	if ra := retryAfter(err); ra > wait {
		if ra > p.MaxDelay {
			return 0, fmt.Sprintf("the receiver asked to wait %v, more than the longest wait %v; gave up", ra, p.MaxDelay)
		}
		wait = ra
	}
	return wait, ""
}

// backoff is the jittered wait after failed attempt n.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return d - rand.N(d/2+1)
}
