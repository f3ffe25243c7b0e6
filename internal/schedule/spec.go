// Package schedule says when plans run and fires their runs: specs (cron
// expressions in a time zone, or fixed rates) that give each plan's slots,
// and a Scheduler that keeps every plan's next slot in one heap behind one
// timer, runs slots late inside their start window, reports the ones it
// missed once, reports runs that overrun their completion window, and never
// fires a slot twice, across restarts too.
package schedule

import (
	"time"
)

// Spec gives the times at which a plan is due: its slots.
type Spec interface {
	// Next returns the first slot strictly after t, or the zero time when
	// there is none in the next five years.
	Next(t time.Time) time.Time
	// String returns the spec in the form it is written.
	String() string
}

// Intervals samples the slots of s from from on, up to maxSlots of them or
// until span has passed, and returns the shortest and longest time between
// two slots and the number of slots seen. With fewer than two slots the
// intervals are zero.
func Intervals(s Spec, from time.Time, span time.Duration, maxSlots int) (shortest, longest time.Duration, slots int) {
	end := from.Add(span)
	prev := s.Next(from)
	if prev.IsZero() || prev.After(end) {
		return 0, 0, 0
	}
	slots = 1
	for slots < maxSlots {
		next := s.Next(prev)
		if next.IsZero() || next.After(end) {
			break
		}
		gap := next.Sub(prev)
		if shortest == 0 || gap < shortest {
			shortest = gap
		}
		longest = max(longest, gap)
		prev = next
		slots++
	}
	return shortest, longest, slots
}
