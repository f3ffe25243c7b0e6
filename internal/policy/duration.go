package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Units accepted by ParseDuration. A month and a year are their longest
// calendar lengths, so "within 1m" never keeps less than a calendar month.
const (
	Day   = 24 * time.Hour
	Week  = 7 * Day
	Month = 31 * Day
	Year  = 366 * Day
)

// maxSpan bounds a parsed duration well below the range of time.Duration.
const maxSpan = 200 * Year

// ParseDuration parses a keep-within span such as "7d", "2w", "1y6m" or
// "36h": one or more decimal integers, each followed by a unit h (hour),
// d (day), w (week), m (month) or y (year). As with other backup tools, m
// means months, not minutes.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("parse duration: empty string")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if digits == 0 {
			return 0, fmt.Errorf("parse duration %q: expected a number at %q", s, rest)
		}
		if digits == len(rest) {
			return 0, fmt.Errorf("parse duration %q: number %q has no unit (h, d, w, m or y)", s, rest)
		}
		n, err := strconv.ParseInt(rest[:digits], 10, 64)
		if err != nil || n > int64(maxSpan/time.Hour) {
			return 0, fmt.Errorf("parse duration %q: number %q is too large", s, rest[:digits])
		}
		unit, ok := durationUnit(rest[digits])
		if !ok {
			return 0, fmt.Errorf("parse duration %q: unknown unit %q (want h, d, w, m or y)", s, rest[digits:digits+1])
		}
		if time.Duration(n) > (maxSpan-total)/unit {
			return 0, fmt.Errorf("parse duration %q: longer than %d years", s, maxSpan/Year)
		}
		total += time.Duration(n) * unit
		rest = rest[digits+1:]
	}
	return total, nil
}

func durationUnit(c byte) (time.Duration, bool) {
	switch c {
	case 'h':
		return time.Hour, true
	case 'd':
		return Day, true
	case 'w':
		return Week, true
	case 'm':
		return Month, true
	case 'y':
		return Year, true
	}
	return 0, false
}

// FormatDuration renders d in whole days and hours ("7d", "1d12h", "6h");
// any remainder below an hour is appended in Go's notation ("1h30m0s").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0h"
	}
	var b strings.Builder
	// Work on the magnitude as uint64 so that the most negative duration
	// does not overflow when negated.
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u
	}
	if days := u / uint64(Day); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		u -= days * uint64(Day)
	}
	if hours := u / uint64(time.Hour); hours > 0 {
		fmt.Fprintf(&b, "%dh", hours)
		u -= hours * uint64(time.Hour)
	}
	if u > 0 {
		b.WriteString(time.Duration(u).String())
	}
	return b.String()
}
