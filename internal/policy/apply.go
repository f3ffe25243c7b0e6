package policy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Plan validates r and applies it to points. It refuses with ErrNoRule when
// r is empty, so that a forget run without rules never removes anything.
func Plan(points []Point, r Rules, now time.Time) (keep, remove []Decision, err error) {
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	if r.Empty() {
		return nil, nil, ErrNoRule
	}
	keep, remove = Apply(points, r, now)
	return keep, remove, nil
}

// Apply sorts points newest first and decides for each whether r keeps it.
// A point is kept when any rule selects it:
//
//   - Last keeps the Last newest points; the reason "last k" says the point
//     is the k-th newest.
//   - Hourly, Daily, Weekly (ISO week), Monthly and Yearly each walk the
//     points from newest to oldest and keep the newest point of every bucket
//     they meet, until they have used their count of buckets. Buckets are
//     taken in UTC; the reason names the bucket, e.g. "weekly 2026-W47".
//   - Within keeps every point at or after now-Within.
//   - Tags keeps every point that carries any of the tags.
//
// Points with the same time are ordered by ID, so the result does not depend
// on the order of the input. Both lists are returned newest first.
//
// Apply never removes anything when r is empty or invalid: it then keeps
// every point. Use Plan to have such rules reported as errors.
func Apply(points []Point, r Rules, now time.Time) (keep, remove []Decision) {
	sorted := sortNewestFirst(points)
	if r.Empty() || r.Validate() != nil {
		for _, p := range sorted {
			keep = append(keep, Decision{Point: p, Reasons: []string{"no valid keep rule"}})
		}
		return keep, nil
	}
	reasons := make([][]string, len(sorted))
	for i := 0; i < len(sorted) && i < r.Last; i++ {
		reasons[i] = append(reasons[i], fmt.Sprintf("last %d", i+1))
	}
	for _, b := range buckets(r) {
		b.apply(sorted, reasons)
	}
	applyWithin(sorted, reasons, r.Within, now)
	applyTags(sorted, reasons, r.Tags)
	for i, p := range sorted {
		if len(reasons[i]) > 0 {
			keep = append(keep, Decision{Point: p, Reasons: reasons[i]})
		} else {
			remove = append(remove, Decision{Point: p})
		}
	}
	return keep, remove
}

func sortNewestFirst(points []Point) []Point {
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b Point) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return sorted
}

func applyWithin(sorted []Point, reasons [][]string, within time.Duration, now time.Time) {
	if within <= 0 {
		return
	}
	cutoff := now.Add(-within)
	reason := "within " + FormatDuration(within)
	for i, p := range sorted {
		if !p.Time.Before(cutoff) {
			reasons[i] = append(reasons[i], reason)
		}
	}
}

func applyTags(sorted []Point, reasons [][]string, tags []string) {
	if len(tags) == 0 {
		return
	}
	for i, p := range sorted {
		if tag, ok := p.hasAnyTag(tags); ok {
			reasons[i] = append(reasons[i], "tag "+tag)
		}
	}
}
