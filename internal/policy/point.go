package policy

import "time"

// Point is the view of a recovery point that the keep rules need. Callers
// map their own records into it and map decisions back by ID.
type Point struct {
	ID    string
	Time  time.Time
	Host  string
	Paths []string
	Tags  []string
}

// Decision is the verdict on one point. For a kept point, Reasons names
// every rule that selected it, e.g. "last 3", "daily 2026-11-20",
// "within 7d" or "tag monthly-archive"; for a removed point it is empty.
type Decision struct {
	Point   Point
	Reasons []string
}

func (p Point) hasAnyTag(tags []string) (string, bool) {
	for _, want := range tags {
		for _, have := range p.Tags {
			if have == want {
				return want, true
			}
		}
	}
	return "", false
}
