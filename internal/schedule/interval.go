package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxInterval bounds every interval ParseInterval accepts: rates, windows
// and timeouts are all shorter than a year.
const MaxInterval = 366 * 24 * time.Hour

// ParseInterval reads a span of clock time such as "90s", "15m", "1h30m"
// or "7d": one or more whole numbers, each followed by a unit s (second),
// m (minute), h (hour) or d (day), the units from largest to smallest and
// each at most once. Here m is minutes; retention spans, where m is months,
// are read by policy.ParseDuration.
func ParseInterval(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty interval; write e.g. 90s, 15m, 1h30m or 7d")
	}
	var total time.Duration
	rest := s
	prev := time.Duration(-1)
	for rest != "" {
		digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if digits == 0 {
			return 0, fmt.Errorf("interval %q: expected a number at %q", s, rest)
		}
		if digits == len(rest) {
			return 0, fmt.Errorf("interval %q: %q has no unit (s, m, h or d)", s, rest)
		}
		unit, ok := intervalUnit(rest[digits])
		if !ok {
			return 0, fmt.Errorf("interval %q: unknown unit %q (want s, m, h or d)", s, rest[digits:digits+1])
		}
		if prev >= 0 && unit >= prev {
			return 0, fmt.Errorf("interval %q: give each unit once, largest first (e.g. 1h30m)", s)
		}
		prev = unit
		n, err := strconv.ParseInt(rest[:digits], 10, 64)
		if err != nil || time.Duration(n) > (MaxInterval-total)/unit {
			return 0, fmt.Errorf("interval %q: longer than %s", s, FormatInterval(MaxInterval))
		}
		total += time.Duration(n) * unit
		rest = rest[digits+1:]
	}
	return total, nil
}

func intervalUnit(c byte) (time.Duration, bool) {
	switch c {
	case 's':
		return time.Second, true
	case 'm':
		return time.Minute, true
	case 'h':
		return time.Hour, true
	case 'd':
		return 24 * time.Hour, true
	}
	return 0, false
}

// FormatInterval writes d in the form ParseInterval reads, largest units
// first and zero units left out: "1d2h", "15m", "90s" becomes "1m30s".
// Fractions of a second are dropped; zero is "0s".
func FormatInterval(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name byte
	}{{24 * time.Hour, 'd'}, {time.Hour, 'h'}, {time.Minute, 'm'}, {time.Second, 's'}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte(u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
