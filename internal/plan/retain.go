package plan

import (
	"slices"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
)

// Point is a recovery point as a plan's retention sees it: Time is the
// server's stamp, Verified tells whether its data has been verified intact.
type Point struct {
	policy.Point
	Verified bool
}

// Decisions is what a plan's retention says of a vault's points.
type Decisions struct {
	// Keep holds the verified points a rule keeps, with the rules.
	Keep []policy.Decision
	// Remove holds the verified points no rule keeps, or older than
	// max_age. They go once the vault's lock lets them, not earlier.
	Remove []policy.Decision
	// Unverified holds the points not verified yet: they count towards no
	// rule and are not removed by one, so that points nobody has checked
	// cannot push verified points out.
	Unverified []policy.Point
}

// Apply decides, at now on the server's clock, which points r keeps. The
// rules apply to each source (host and paths) on its own and count only
// verified points. With no rule at all, every verified point is kept.
func (r Retention) Apply(points []Point, now time.Time) Decisions {
	var d Decisions
	by := policy.Grouping{Host: true, Paths: true}
	groups := make(map[string][]policy.Point)
	var keys []string
	for _, p := range points {
		if !p.Verified {
			d.Unverified = append(d.Unverified, p.Point)
			continue
		}
		k := by.Key(p.Point)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], p.Point)
	}
	slices.Sort(keys)
	for _, k := range keys {
		keep, remove := policy.Apply(groups[k], r.Keep, now)
		if r.MaxAge > 0 {
			cutoff := now.Add(-r.MaxAge)
			young := keep[:0:0]
			for _, dec := range keep {
				if dec.Point.Time.Before(cutoff) {
					remove = append(remove, policy.Decision{Point: dec.Point})
				} else {
					young = append(young, dec)
				}
			}
			keep = young
		}
		d.Keep = append(d.Keep, keep...)
		d.Remove = append(d.Remove, remove...)
	}
	return d
}
