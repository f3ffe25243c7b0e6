// Package policy decides which recovery points a forget run keeps. Rules
// follow the familiar keep-last, keep-hourly … keep-yearly, keep-within and
// keep-tag model: a point is kept when any rule selects it, and every kept
// point carries the reasons that selected it.
package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNoRule is returned when a forget run is given no keep rule at all.
// bunker refuses to treat that as "keep nothing".
var ErrNoRule = errors.New("no keep rule given; refusing to forget everything")

// ErrInvalidRule reports a keep rule that cannot be applied.
var ErrInvalidRule = errors.New("invalid keep rule")

// Rules says which points to keep. A zero field disables its rule.
type Rules struct {
	Last    int // keep the Last newest points
	Hourly  int // keep the newest point of each of the last Hourly hours that have one
	Daily   int // … of each of the last Daily days
	Weekly  int // … of each of the last Weekly ISO weeks
	Monthly int // … of each of the last Monthly months
	Yearly  int // … of each of the last Yearly years

	// Within keeps every point whose time is at or after now-Within.
	Within time.Duration

	// Tags keeps every point that carries at least one of these tags.
	Tags []string
}

// Empty reports whether r contains no keep rule at all.
func (r Rules) Empty() bool {
	return r.Last == 0 && r.Hourly == 0 && r.Daily == 0 && r.Weekly == 0 &&
		r.Monthly == 0 && r.Yearly == 0 && r.Within == 0 && len(r.Tags) == 0
}

// Validate reports the first rule that cannot be applied: a negative count
// or duration, or an empty tag. Empty rules are valid; see Plan.
func (r Rules) Validate() error {
	for _, c := range r.counts() {
		if c.n < 0 {
			return fmt.Errorf("%w: keep-%s is %d, must not be negative", ErrInvalidRule, c.name, c.n)
		}
	}
	if r.Within < 0 {
		return fmt.Errorf("%w: keep-within is %s, must not be negative", ErrInvalidRule, r.Within)
	}
	for i, t := range r.Tags {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("%w: keep-tag %d is empty", ErrInvalidRule, i+1)
		}
	}
	return nil
}

// String describes r for display, e.g. "last 3, daily 7, within 7d".
func (r Rules) String() string {
	var parts []string
	for _, c := range r.counts() {
		if c.n != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	if r.Within != 0 {
		parts = append(parts, "within "+FormatDuration(r.Within))
	}
	for _, t := range r.Tags {
		parts = append(parts, fmt.Sprintf("tag %q", t))
	}
	if len(parts) == 0 {
		return "no rule"
	}
	return strings.Join(parts, ", ")
}

type namedCount struct {
	name string
	n    int
}

func (r Rules) counts() []namedCount {
	return []namedCount{
		{"last", r.Last},
		{"hourly", r.Hourly},
		{"daily", r.Daily},
		{"weekly", r.Weekly},
		{"monthly", r.Monthly},
		{"yearly", r.Yearly},
	}
}
