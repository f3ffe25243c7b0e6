// Package retention holds the rules that protect recovery points: a vault's
// lock (governance or compliance, with retention bounds and a grace period
// after which the lock itself cannot change), the retention that gives each
// point its expiry, legal holds, and the decisions that follow from them:
// may this point be deleted now, may its expiry change, may this lock be
// changed. It is pure logic over times the server supplies from its own
// clock.
package retention

import (
	"errors"
	"fmt"
	"time"
)

// Mode is a vault lock's mode.
type Mode string

// Lock modes.
const (
	// None leaves points deletable by a vault-admin at any time.
	None Mode = ""
	// Governance keeps points until they expire, except for a vault-admin
	// holding the governance bypass.
	Governance Mode = "governance"
	// Compliance keeps points until they expire, whoever asks.
	Compliance Mode = "compliance"
)

// ParseMode checks a mode name; "none" and "" both mean None.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "none":
		return None, nil
	case string(Governance), string(Compliance):
		return Mode(s), nil
	}
	return None, fmt.Errorf("unknown lock mode %q (want none, governance or compliance)", s)
}

// String returns the mode's name, "none" for None.
func (m Mode) String() string {
	if m == None {
		return "none"
	}
	return string(m)
}

// MinComplianceGrace is the shortest grace period a compliance lock may
// have: the time in which a mistaken lock can still be changed or removed.
const MinComplianceGrace = 72 * time.Hour

// MaxSpan bounds every retention and grace period.
const MaxSpan = 100 * 366 * 24 * time.Hour

// Errors; test with errors.Is.
var (
	// ErrLockImmutable: the lock date has passed, so the lock cannot change.
	ErrLockImmutable = errors.New("vault lock is past its lock date and can no longer be changed or removed")
	// ErrRetained: the point has not expired and its vault's lock keeps it.
	ErrRetained = errors.New("point is retained by its vault's lock")
	// ErrHeld: a legal hold covers the point.
	ErrHeld = errors.New("point is under legal hold")
	// ErrBounds: a retention outside the lock's bounds.
	ErrBounds = errors.New("retention outside the vault lock's bounds")
	// ErrInvalid: a malformed lock, policy or hold.
	ErrInvalid = errors.New("invalid retention setting")
)

// Lock is a vault's lock.
type Lock struct {
	Mode Mode `json:"mode"`
	// MinRetention and MaxRetention bound the retention of every new point
	// and every change of a point's expiry; zero MaxRetention means no
	// upper bound.
	MinRetention time.Duration `json:"min_retention"`
	MaxRetention time.Duration `json:"max_retention"`
	// ChangeableFor is the grace period after SetAt during which the lock
	// can still be changed or removed. Zero on a governance lock means it
	// stays changeable; a compliance lock needs at least MinComplianceGrace.
	ChangeableFor time.Duration `json:"changeable_for"`
	SetAt         time.Time     `json:"set_at"`
}

// LockDate is when the lock becomes immutable; zero for a lock that stays
// changeable.
func (l Lock) LockDate() time.Time {
	if l.Mode == None || l.ChangeableFor == 0 {
		return time.Time{}
	}
	return l.SetAt.Add(l.ChangeableFor)
}

// Immutable reports whether the lock can no longer change at now.
func (l Lock) Immutable(now time.Time) bool {
	d := l.LockDate()
	return !d.IsZero() && !now.Before(d)
}

// NewLock validates and returns a lock set at now.
func NewLock(mode Mode, minRet, maxRet, changeableFor time.Duration, now time.Time) (Lock, error) {
	l := Lock{Mode: mode, MinRetention: minRet, MaxRetention: maxRet, ChangeableFor: changeableFor, SetAt: now.UTC()}
	return l, l.Validate()
}

// Validate checks a lock's fields.
func (l Lock) Validate() error {
	switch {
	case l.Mode != None && l.Mode != Governance && l.Mode != Compliance:
		return fmt.Errorf("%w: unknown lock mode %q", ErrInvalid, l.Mode)
	case l.Mode == None && (l.MinRetention != 0 || l.MaxRetention != 0 || l.ChangeableFor != 0):
		return fmt.Errorf("%w: a vault without a lock has no retention bounds or grace period", ErrInvalid)
	case l.MinRetention < 0 || l.MaxRetention < 0 || l.ChangeableFor < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrInvalid)
	case l.MinRetention > MaxSpan || l.MaxRetention > MaxSpan || l.ChangeableFor > MaxSpan:
		return fmt.Errorf("%w: durations are limited to 100 years", ErrInvalid)
	case l.MaxRetention != 0 && l.MaxRetention < l.MinRetention:
		return fmt.Errorf("%w: maximum retention %s is shorter than minimum retention %s", ErrInvalid, Format(l.MaxRetention), Format(l.MinRetention))
	case l.Mode == Compliance && l.ChangeableFor < MinComplianceGrace:
		return fmt.Errorf("%w: a compliance lock needs a changeable-for grace period of at least %s (got %s), so that a mistake can be undone", ErrInvalid, Format(MinComplianceGrace), Format(l.ChangeableFor))
	}
	return nil
}

// CheckRetention checks that a retention r (zero: kept until deleted by
// hand) fits the lock's bounds.
func (l Lock) CheckRetention(r time.Duration) error {
	if r < 0 || r > MaxSpan {
		return fmt.Errorf("%w: retention %s out of range", ErrInvalid, Format(r))
	}
	if l.Mode == None {
		return nil
	}
	if r != 0 && r < l.MinRetention {
		return fmt.Errorf("%w: retention %s is shorter than the minimum %s", ErrBounds, Format(r), Format(l.MinRetention))
	}
	if l.MaxRetention != 0 && (r == 0 || r > l.MaxRetention) {
		return fmt.Errorf("%w: retention %s is longer than the maximum %s", ErrBounds, Format(r), Format(l.MaxRetention))
	}
	return nil
}

// CheckChange decides whether the lock l may be replaced at now.
func (l Lock) CheckChange(now time.Time) error {
	if l.Immutable(now) {
		return fmt.Errorf("%w (locked since %s)", ErrLockImmutable, l.LockDate().UTC().Format(time.RFC3339))
	}
	return nil
}

// Policy is what a vault applies to its points.
type Policy struct {
	Lock Lock `json:"lock"`
	// Retention is the time each new point is kept; zero keeps points until
	// they are deleted by hand.
	Retention time.Duration `json:"retention"`
	// BinRetention is how long a deleted or expired point stays in the
	// recycle bin before it is purged.
	BinRetention time.Duration `json:"bin_retention"`
}

// DefaultBinRetention is the recycle bin period of a new vault.
const DefaultBinRetention = 7 * 24 * time.Hour

// Validate checks the policy as a whole.
func (p Policy) Validate() error {
	if err := p.Lock.Validate(); err != nil {
		return err
	}
	if err := p.Lock.CheckRetention(p.Retention); err != nil {
		return fmt.Errorf("vault retention: %w", err)
	}
	if p.BinRetention < 0 || p.BinRetention > MaxSpan {
		return fmt.Errorf("%w: recycle bin retention %s out of range", ErrInvalid, Format(p.BinRetention))
	}
	return nil
}

// Expiry returns the expiry of a point stamped at t: zero when the policy
// keeps points until deleted.
func (p Policy) Expiry(t time.Time) time.Time {
	if p.Retention == 0 {
		return time.Time{}
	}
	return t.Add(p.Retention)
}
