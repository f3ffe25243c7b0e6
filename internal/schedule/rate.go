package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Rate is a spec that is due every Every, at the multiples of Every counted
// from midnight UTC of 1 January of the year 1: "every 15m" is due at :00,
// :15, :30 and :45 of every hour, "every 1d" at midnight UTC. Its slots
// follow real time and ignore time zones and their changes.
type Rate struct {
	Every time.Duration
}

// ParseRate reads a rate such as "every 15m", "every 6h" or "every 1d": the
// word every and an interval as ParseInterval reads it, of at least one
// second.
func ParseRate(s string) (Rate, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 || fields[0] != "every" {
		return Rate{}, fmt.Errorf("rate %q: write \"every\" and an interval, e.g. every 15m", clip(s))
	}
	d, err := ParseInterval(fields[1])
	if err != nil {
		return Rate{}, fmt.Errorf("rate: %w", err)
	}
	if d < time.Second {
		return Rate{}, fmt.Errorf("rate %q: the interval must be at least 1s", clip(s))
	}
	return Rate{Every: d}, nil
}

// Next returns the first multiple of r.Every after t.
func (r Rate) Next(t time.Time) time.Time {
	if r.Every <= 0 {
		return time.Time{}
	}
	return t.Truncate(r.Every).Add(r.Every)
}

// String returns the rate as ParseRate reads it.
func (r Rate) String() string { return "every " + FormatInterval(r.Every) }

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
