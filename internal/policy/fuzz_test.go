package policy

import (
	"encoding/binary"
	"slices"
	"strconv"
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1y6m", "36h", "2w", "", "7", "-1d", "200y", "201y", "1d2d3d", "99999999999999999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > maxSpan {
			t.Fatalf("ParseDuration(%q) = %v, outside [0, %v]", s, d, maxSpan)
		}
		if d%time.Hour != 0 {
			t.Fatalf("ParseDuration(%q) = %v, not whole hours", s, d)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("FormatDuration(%v) = %q does not parse back: %v, %v", d, FormatDuration(d), back, err)
		}
	})
}

func FuzzParseGrouping(f *testing.F) {
	for _, s := range []string{"", "host", "paths", "host,paths", "tags, host", "none", "host,", "host,host", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGrouping(s)
		if err != nil {
			return
		}
		back, err := ParseGrouping(g.String())
		if err != nil || back != g {
			t.Fatalf("ParseGrouping(%q) = %+v, but its String %q parses to %+v, %v", s, g, g.String(), back, err)
		}
	})
}

// FuzzApply reads points as 9-byte records (8 bytes of Unix seconds, one tag
// byte) and checks the properties every forget plan must have.
func FuzzApply(f *testing.F) {
	seed := func(secs ...int64) []byte {
		var b []byte
		for i, s := range secs {
			b = binary.BigEndian.AppendUint64(b, uint64(s))
			b = append(b, byte(i))
		}
		return b
	}
	f.Add(seed(1795000000, 1795003600, 1795090000, 1609459200, 1609459200), uint8(1), uint8(2), uint8(1), uint8(1), uint8(1), uint16(48))
	f.Add(seed(0, -62135596800, 253402300799, 1<<40), uint8(0), uint8(0), uint8(3), uint8(0), uint8(2), uint16(0))
	f.Add([]byte{1, 2, 3}, uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, last, hourly, daily, weekly, yearly uint8, withinHours uint16) {
		var points []Point
		for i := 0; i+9 <= len(data); i += 9 {
			secs := int64(binary.BigEndian.Uint64(data[i:]))
			p := Point{ID: strconv.Itoa(i / 9), Time: time.Unix(secs, 0)}
			if data[i+8]%4 == 0 {
				p.Tags = []string{"keep"}
			}
			points = append(points, p)
		}
		r := Rules{
			Last: int(last % 8), Hourly: int(hourly % 8), Daily: int(daily % 8),
			Weekly: int(weekly % 8), Yearly: int(yearly % 8),
			Within: time.Duration(withinHours) * time.Hour,
		}
		if withinHours%3 == 0 {
			r.Tags = []string{"keep"}
		}
		now := time.Unix(1795000000, 0)
		keep, remove, err := Plan(points, r, now)
		if r.Empty() {
			if err == nil {
				t.Fatal("Plan accepted empty rules")
			}
			return
		}
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		checkPlan(t, points, r, now, keep, remove)
	})
}

func checkPlan(t *testing.T, points []Point, r Rules, now time.Time, keep, remove []Decision) {
	t.Helper()
	if len(keep)+len(remove) != len(points) {
		t.Fatalf("keep %d + remove %d != %d points", len(keep), len(remove), len(points))
	}
	all := append(slices.Clone(keep), remove...)
	seen := make(map[string]bool)
	for _, d := range all {
		if seen[d.Point.ID] {
			t.Fatalf("point %s decided twice", d.Point.ID)
		}
		seen[d.Point.ID] = true
	}
	for _, d := range keep {
		if len(d.Reasons) == 0 {
			t.Fatalf("kept point %s has no reason", d.Point.ID)
		}
	}
	if n := min(r.Last, len(points)); len(keep) < n {
		t.Fatalf("kept %d points, keep-last alone keeps %d", len(keep), n)
	}
	cutoff := now.Add(-r.Within)
	for _, d := range remove {
		if r.Within > 0 && !d.Point.Time.Before(cutoff) {
			t.Fatalf("removed point %s at %v is within %v of %v", d.Point.ID, d.Point.Time, r.Within, now)
		}
		if _, tagged := d.Point.hasAnyTag(r.Tags); tagged {
			t.Fatalf("removed point %s carries a kept tag", d.Point.ID)
		}
	}
	for _, list := range [][]Decision{keep, remove} {
		for i := 1; i < len(list); i++ {
			if list[i].Point.Time.After(list[i-1].Point.Time) {
				t.Fatalf("decisions are not newest first")
			}
		}
	}
}
