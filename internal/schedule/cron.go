package schedule

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// maxCronLen bounds a cron expression.
const maxCronLen = 256

// starBit marks a cron field written as "*" in the parsed schedule.
const starBit = 1 << 63

// cronParser reads the five standard fields and nothing else: no seconds
// and no descriptors such as @daily.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Cron is a spec given by a cron expression in a time zone. The five fields
// are minute, hour, day of month, month and day of week, as in crontab(5);
// when both day fields are restricted, a day matching either is due.
//
// Changes of the zone's offset are handled as cron does: an expression
// whose hour field is "*" follows real time; one with fixed hours is due
// once at each wall-clock time it names, so that a time skipped when the
// clocks go forward is due at the change, and a time the clocks pass twice
// when they go back is due the first time only.
type Cron struct {
	expr       string // the five fields, single-spaced
	loc        *time.Location
	spec       *cron.SpecSchedule
	fixedHours bool
}

// ParseCron reads a cron expression in the zone loc (nil: UTC). The
// expression may start with CRON_TZ=Zone (or TZ=Zone) instead, but not
// when loc is given as well.
func ParseCron(expr string, loc *time.Location) (*Cron, error) {
	if len(expr) > maxCronLen {
		return nil, fmt.Errorf("longer than %d characters", maxCronLen)
	}
	fields := strings.Fields(expr)
	if len(fields) > 0 && (strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=")) {
		if loc != nil {
			return nil, fmt.Errorf("the time zone is given twice: as %s and separately", fields[0])
		}
		_, name, _ := strings.Cut(fields[0], "=")
		if name == "" {
			return nil, fmt.Errorf("%w: %s names no zone", ErrZone, fields[0])
		}
		l, err := LoadZone(name)
		if err != nil {
			return nil, err
		}
		loc, fields = l, fields[1:]
	}
	if loc == nil {
		loc = time.UTC
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("expected 5 fields, got %d: minute hour day-of-month month day-of-week", len(fields))
	}
	joined := strings.Join(fields, " ")
	parsed, err := cronParser.Parse(joined)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unsupported expression %q", clip(joined))
	}
	spec.Location = loc
	c := &Cron{expr: joined, loc: loc, spec: spec, fixedHours: spec.Hour&starBit == 0}
	if c.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("%q is never due", joined)
	}
	return c, nil
}

// Expr returns the five fields, single-spaced.
func (c *Cron) Expr() string { return c.expr }

// Location returns the zone the fields are read in.
func (c *Cron) Location() *time.Location { return c.loc }

// String returns the expression with its zone, as in "CRON_TZ=Europe/Berlin 0 3 * * *".
func (c *Cron) String() string { return "CRON_TZ=" + c.loc.String() + " " + c.expr }

// Next returns the first slot after t, in c's zone.
func (c *Cron) Next(t time.Time) time.Time {
	// Each repeated wall-clock time skips one slot; a year holds at most a
	// few zone changes, so the loop ends quickly.
	for range 64 {
		n := c.search(t)
		if n.IsZero() {
			return n
		}
		n = n.In(c.loc)
		if !c.fixedHours {
			return n
		}
		if change, ok := c.skippedSlot(t, n); ok {
			return change
		}
		if !c.repeated(n) {
			return n
		}
		t = n
	}
	return time.Time{}
}

// search returns the first time after t the fields match, as the
// underlying search finds it. It searches on a fixed clock at the offset t
// is in, which is much quicker than looking up the zone at every step, and
// keeps that answer when it comes before the zone's offset next changes.
func (c *Cron) search(t time.Time) time.Time {
	from := c.minuteBefore(t)
	local := from.In(c.loc)
	_, off := local.Zone()
	_, end := local.ZoneBounds()
	if off%60 == 0 {
		if n := nextOnFixedClock(c.spec, from, off); !n.IsZero() && (end.IsZero() || n.Before(end)) {
			return n.In(c.loc)
		}
	}
	return c.spec.Next(from)
}

// nextOnFixedClock returns the first whole minute after t whose wall-clock
// time on a clock offset seconds east of UTC (whole minutes) matches spec's
// fields, or the zero time when none does within five years. It answers as
// spec.Next would in a zone of that one offset, jumping over the fields'
// bits rather than stepping minute by minute. The clock's wall time is the
// UTC wall time of the instant shifted by the offset.
func nextOnFixedClock(spec *cron.SpecSchedule, t time.Time, offset int) time.Time {
	shift := time.Duration(offset) * time.Second
	t = t.Add(shift).UTC().Truncate(time.Minute).Add(time.Minute)
	y, mo, d := t.Date()
	h, mi := t.Hour(), t.Minute()
	limit := y + 5
	for y <= limit {
		switch {
		case spec.Month&(1<<uint(mo)) == 0:
			y, mo, d, h, mi = nextMonth(y, mo)
		case !fieldsMatchDay(spec, y, mo, d):
			y, mo, d, h, mi = nextDay(y, mo, d)
		default:
			nh, ok := nextBit(spec.Hour, h, 23)
			if !ok {
				y, mo, d, h, mi = nextDay(y, mo, d)
				continue
			}
			if nh != h {
				h, mi = nh, 0
			}
			nm, ok := nextBit(spec.Minute, mi, 59)
			if !ok {
				if h == 23 {
					y, mo, d, h, mi = nextDay(y, mo, d)
				} else {
					h, mi = h+1, 0
				}
				continue
			}
			return time.Date(y, mo, d, h, nm, 0, 0, time.UTC).Add(-shift)
		}
	}
	return time.Time{}
}

// nextBit returns the lowest bit of bits at or above from and at most max.
func nextBit(set uint64, from, max int) (int, bool) {
	rest := set &^ starBit >> uint(from) << uint(from)
	if rest == 0 {
		return 0, false
	}
	n := bits.TrailingZeros64(rest)
	return n, n <= max
}

func nextMonth(y int, mo time.Month) (int, time.Month, int, int, int) {
	if mo == time.December {
		return y + 1, time.January, 1, 0, 0
	}
	return y, mo + 1, 1, 0, 0
}

func nextDay(y int, mo time.Month, d int) (int, time.Month, int, int, int) {
	if d < daysIn(y, mo) {
		return y, mo, d + 1, 0, 0
	}
	return nextMonth(y, mo)
}

func daysIn(y int, mo time.Month) int {
	return time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// fieldsMatchDay reports whether the day fields match a date, as cron
// reads them: when either is "*", both must match; otherwise either.
func fieldsMatchDay(spec *cron.SpecSchedule, y int, mo time.Month, d int) bool {
	dom := spec.Dom&(1<<uint(d)) != 0
	dow := spec.Dow&(1<<uint(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Weekday())) != 0
	if spec.Dom&starBit != 0 || spec.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// minuteBefore returns the second before the first whole minute after t,
// where the search for the next slot may start: slots are at whole minutes,
// and the underlying search steps second by second up to the next one.
// In a zone whose offset is not whole minutes, as in some zones before
// 1970, it returns t.
func (c *Cron) minuteBefore(t time.Time) time.Time {
	if _, off := t.In(c.loc).Zone(); off%60 != 0 {
		return t
	}
	return t.Truncate(time.Minute).Add(time.Minute - time.Second)
}

// skippedSlot finds the first change in (t, n] at which the clocks went
// forward over a wall-clock time the expression names, and returns the
// instant of that change.
func (c *Cron) skippedSlot(t, n time.Time) (time.Time, bool) {
	at := t.In(c.loc)
	for range 16 {
		_, end := at.ZoneBounds()
		if end.IsZero() || end.After(n) {
			return time.Time{}, false
		}
		_, before := end.Add(-time.Second).Zone()
		_, after := end.Zone()
		if gap := time.Duration(after-before) * time.Second; gap > 0 && end.After(t) {
			// Read the fields on the clock as it would have run on: the wall
			// times from the change on, for the length of the gap, never
			// happened in c's zone.
			old := *c.spec
			old.Location = time.FixedZone("", before)
			if m := old.Next(end.Add(-time.Second)); !m.IsZero() && m.Before(end.Add(gap)) {
				return end.In(c.loc), true
			}
		}
		at = end
	}
	return time.Time{}, false
}

// repeated reports whether n's wall-clock time also happened just before
// the clocks last went back, so that the earlier instant was the slot.
func (c *Cron) repeated(n time.Time) bool {
	start, _ := n.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, before := start.Add(-time.Second).Zone()
	_, now := n.Zone()
	back := time.Duration(before-now) * time.Second
	return back > 0 && n.Sub(start) < back
}
