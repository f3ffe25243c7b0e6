package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/fuzzseed"
)

// fuzzFrom are the times fuzzed specs are asked for their next slots,
// around the changes of the clocks in Europe and America in 2026.
var fuzzFrom = []string{"2026-03-08T06:59:59Z", "2026-03-29T00:59:59Z", "2026-10-25T00:30:00Z", "2026-11-01T05:59:00Z", "2026-12-31T23:59:59Z"}

// checkSlots checks that a spec's slots move forward.
func checkSlots(t *testing.T, s Spec) {
	for _, f := range fuzzFrom {
		from, _ := time.Parse(time.RFC3339, f)
		for range 8 {
			next := s.Next(from)
			if next.IsZero() {
				break
			}
			if !next.After(from) {
				t.Fatalf("%s: Next(%s) = %s, not after it", s, from, next)
			}
			from = next
		}
	}
}

func FuzzParseCron(f *testing.F) {
	seeds := [][2]string{
		{"0 3 * * *", ""}, {"30 2 * * *", "Europe/Berlin"}, {"*/15 2 * * *", "America/New_York"},
		{"CRON_TZ=Australia/Lord_Howe 0 2 * * *", ""}, {"0 3 * *", ""}, {"0 3 30 2 *", "UTC"},
		{"TZ=", ""}, {"CRON_TZ=Europe/Berlin 0 3 * * *", "UTC"}, {"1-2-3 * * * *", ""}, {"0/100 * * * *", ""},
		{"0 0 1 jan-dec sun-sat", ""}, {"? ? ? ? ?", "Local"}, {"0 0 29 2 1", "Asia/Tehran"},
	}
	for i, s := range seeds {
		f.Add(s[0], s[1])
		if fuzzseed.Enabled() {
			fuzzseed.WriteEntry(f, "FuzzParseCron", fmt.Sprintf("seed-%02d", i), fmt.Sprintf("string(%q)", s[0]), fmt.Sprintf("string(%q)", s[1]))
		}
	}
	f.Fuzz(func(t *testing.T, expr, zone string) {
		var loc *time.Location
		if zone != "" {
			l, err := LoadZone(zone)
			if err != nil {
				return
			}
			loc = l
		}
		c, err := ParseCron(expr, loc)
		if err != nil {
			return
		}
		checkSlots(t, c)
		checkFixedClock(t, c)
		again, err := ParseCron(c.String(), nil)
		if err != nil {
			t.Fatalf("%q parses, but its String %q does not: %v", expr, c.String(), err)
		}
		from, _ := time.Parse(time.RFC3339, fuzzFrom[0])
		if a, b := c.Next(from), again.Next(from); !a.Equal(b) {
			t.Fatalf("%q and its String %q differ: %s, %s", expr, c.String(), a, b)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	seeds := []string{"every 15m", "every 1h30m", "every 1d", "every 0s", "every", "every 1s", "every 366d", "every 367d",
		"every  2h ", "every 30m1h", "every 99999999999999999999s", "every 1d1d"}
	fuzzseed.AddStrings(f, "FuzzParseRate", seeds)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Every < time.Second || r.Every > MaxInterval {
			t.Fatalf("ParseRate(%q) = %v, out of bounds", s, r.Every)
		}
		checkSlots(t, r)
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %v, but its String %q reads as %v, %v", s, r, r.String(), back, err)
		}
	})
}

// checkFixedClock checks that the quick search on a clock of one offset
// finds what the cron library's own search finds.
func checkFixedClock(t *testing.T, c *Cron) {
	for _, off := range []int{0, 3600, -5 * 3600, 5*3600 + 30*60, 12*3600 + 45*60} {
		fixed := *c.spec
		fixed.Location = time.FixedZone("", off)
		for _, f := range fuzzFrom {
			from, _ := time.Parse(time.RFC3339, f)
			want, got := fixed.Next(from), nextOnFixedClock(c.spec, from, off)
			if !want.Equal(got) {
				t.Fatalf("%s at offset %d from %s: quick search %s, library %s", c.expr, off, from, got, want)
			}
		}
	}
}

// FuzzParseInterval: an interval that parses lies within 0..MaxInterval
// and reads back from its FormatInterval text as itself.
func FuzzParseInterval(f *testing.F) {
	seeds := []string{"90s", "15m", "1h30m", "7d", "366d", "366d1s", "0s", "1d1d", "30m1h", "", "5", "m", "1x",
		"99999999999999999999s", "0d0h0m0s", "1d23h59m59s", "-1s", " 1s"}
	fuzzseed.AddStrings(f, "FuzzParseInterval", seeds)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseInterval(s)
		if err != nil {
			return
		}
		if d < 0 || d > MaxInterval {
			t.Fatalf("%q parses to %s, outside 0..%s", s, d, MaxInterval)
		}
		again, err := ParseInterval(FormatInterval(d))
		if err != nil || again != d {
			t.Fatalf("%q is %s, but its text %q reads back as %s (%v)", s, d, FormatInterval(d), again, err)
		}
	})
}
