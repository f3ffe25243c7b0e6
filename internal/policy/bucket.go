package policy

import (
	"fmt"
	"time"
)

// bucketRule keeps the newest point in each of the first n distinct buckets.
type bucketRule struct {
	name string
	n    int
	key  func(t time.Time) string // t is in UTC
}

func buckets(r Rules) []bucketRule {
	return []bucketRule{
		{"hourly", r.Hourly, func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{"daily", r.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", r.Weekly, isoWeek},
		{"monthly", r.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", r.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
}

func isoWeek(t time.Time) string {
	year, week := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", year, week)
}

// apply walks sorted (newest first) and records a reason for the first point
// seen in each new bucket, until n buckets are used.
func (b bucketRule) apply(sorted []Point, reasons [][]string) {
	left := b.n
	last := ""
	for i := 0; i < len(sorted) && left > 0; i++ {
		k := b.key(sorted[i].Time.UTC())
		if i > 0 && k == last {
			continue
		}
		last = k
		reasons[i] = append(reasons[i], b.name+" "+k)
		left--
	}
}
