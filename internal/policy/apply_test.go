package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return ts
}

// pts builds points from "id@RFC3339" specs.
func pts(t *testing.T, specs ...string) []Point {
	t.Helper()
	out := make([]Point, len(specs))
	for i, s := range specs {
		id, ts, ok := strings.Cut(s, "@")
		if !ok {
			t.Fatalf("bad point spec %q", s)
		}
		out[i] = Point{ID: id, Time: at(t, ts), Host: "h", Paths: []string{"/data"}}
	}
	return out
}

func keptReasons(keep []Decision) map[string][]string {
	m := make(map[string][]string)
	for _, d := range keep {
		m[d.Point.ID] = d.Reasons
	}
	return m
}

func ids(ds []Decision) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Point.ID
	}
	return out
}

func TestApply(t *testing.T) {
	const now = "2026-11-20T12:00:00Z"
	tests := []struct {
		name   string
		points []string
		rules  Rules
		keep   map[string][]string
		remove []string // newest first
	}{
		{
			name:   "last keeps the newest n with their rank",
			points: []string{"a@2026-11-16T00:00:00Z", "b@2026-11-17T00:00:00Z", "c@2026-11-18T00:00:00Z", "d@2026-11-19T00:00:00Z", "e@2026-11-20T00:00:00Z"},
			rules:  Rules{Last: 3},
			keep:   map[string][]string{"e": {"last 1"}, "d": {"last 2"}, "c": {"last 3"}},
			remove: []string{"b", "a"},
		},
		{
			name:   "last larger than the number of points keeps all",
			points: []string{"a@2026-11-16T00:00:00Z", "b@2026-11-17T00:00:00Z"},
			rules:  Rules{Last: 10},
			keep:   map[string][]string{"b": {"last 1"}, "a": {"last 2"}},
		},
		{
			name: "daily keeps the newest point of each day",
			points: []string{
				"a@2026-11-18T08:00:00Z", "b@2026-11-18T20:00:00Z",
				"c@2026-11-19T00:00:00Z", "d@2026-11-19T23:59:59Z",
				"e@2026-11-20T01:00:00Z", "f@2026-11-20T02:00:00Z",
			},
			rules:  Rules{Daily: 2},
			keep:   map[string][]string{"f": {"daily 2026-11-20"}, "d": {"daily 2026-11-19"}},
			remove: []string{"e", "c", "b", "a"},
		},
		{
			name:   "daily counts days that have points, not calendar days",
			points: []string{"a@2026-11-01T00:00:00Z", "b@2026-11-10T00:00:00Z", "c@2026-11-18T00:00:00Z", "d@2026-11-20T00:00:00Z"},
			rules:  Rules{Daily: 3},
			keep:   map[string][]string{"d": {"daily 2026-11-20"}, "c": {"daily 2026-11-18"}, "b": {"daily 2026-11-10"}},
			remove: []string{"a"},
		},
		{
			name:   "hourly splits at the full hour",
			points: []string{"a@2026-11-20T09:59:59Z", "b@2026-11-20T10:00:00Z", "c@2026-11-20T10:30:00Z", "d@2026-11-20T11:00:00Z"},
			rules:  Rules{Hourly: 2},
			keep:   map[string][]string{"d": {"hourly 2026-11-20T11"}, "c": {"hourly 2026-11-20T10"}},
			remove: []string{"b", "a"},
		},
		{
			name: "weekly uses the ISO week, which spans the new year",
			points: []string{
				"a@2020-12-28T00:00:00Z", // Monday, 2020-W53
				"b@2021-01-01T00:00:00Z", // Friday, still 2020-W53
				"c@2021-01-03T23:59:59Z", // Sunday, still 2020-W53
				"d@2021-01-04T00:00:00Z", // Monday, 2021-W01
			},
			rules:  Rules{Weekly: 2},
			keep:   map[string][]string{"d": {"weekly 2021-W01"}, "c": {"weekly 2020-W53"}},
			remove: []string{"b", "a"},
		},
		{
			name: "weekly labels late December days with the next ISO year",
			points: []string{
				"a@2024-12-29T23:00:00Z", // Sunday, 2024-W52
				"b@2024-12-30T00:00:00Z", // Monday, 2025-W01
				"c@2027-01-01T00:00:00Z", // Friday, 2026-W53
			},
			rules: Rules{Weekly: 5},
			keep:  map[string][]string{"c": {"weekly 2026-W53"}, "b": {"weekly 2025-W01"}, "a": {"weekly 2024-W52"}},
		},
		{
			name:   "monthly splits at midnight UTC of the first",
			points: []string{"a@2026-01-31T23:59:59Z", "b@2026-02-01T00:00:00Z", "c@2026-02-15T00:00:00Z", "d@2026-03-01T00:00:00Z"},
			rules:  Rules{Monthly: 3},
			keep:   map[string][]string{"d": {"monthly 2026-03"}, "c": {"monthly 2026-02"}, "a": {"monthly 2026-01"}},
			remove: []string{"b"},
		},
		{
			name:   "yearly splits at the new year",
			points: []string{"a@2024-06-01T00:00:00Z", "b@2025-12-31T23:59:59Z", "c@2026-01-01T00:00:00Z", "d@2026-05-01T00:00:00Z"},
			rules:  Rules{Yearly: 2},
			keep:   map[string][]string{"d": {"yearly 2026"}, "b": {"yearly 2025"}},
			remove: []string{"c", "a"},
		},
		{
			name: "buckets use UTC, not the point's zone",
			points: []string{
				"a@2026-02-28T12:00:00Z",
				"b@2026-03-01T00:30:00+02:00", // 2026-02-28T22:30Z
			},
			rules:  Rules{Daily: 5, Monthly: 5},
			keep:   map[string][]string{"b": {"daily 2026-02-28", "monthly 2026-02"}},
			remove: []string{"a"},
		},
		{
			name:   "ties in the same second are ordered by ID",
			points: []string{"b@2026-11-20T10:00:00Z", "a@2026-11-20T10:00:00Z", "c@2026-11-19T10:00:00Z"},
			rules:  Rules{Last: 1, Daily: 2},
			keep:   map[string][]string{"a": {"last 1", "daily 2026-11-20"}, "c": {"daily 2026-11-19"}},
			remove: []string{"b"},
		},
		{
			name: "rules combine as a union with every reason listed",
			points: []string{
				"a@2026-09-15T00:00:00Z", "b@2026-10-31T00:00:00Z", "c@2026-11-01T00:00:00Z",
				"d@2026-11-19T00:00:00Z", "e@2026-11-20T00:00:00Z",
			},
			rules: Rules{Last: 1, Daily: 2, Monthly: 3},
			keep: map[string][]string{
				"e": {"last 1", "daily 2026-11-20", "monthly 2026-11"},
				"d": {"daily 2026-11-19"},
				"b": {"monthly 2026-10"},
				"a": {"monthly 2026-09"},
			},
			remove: []string{"c"},
		},
		{
			name: "within keeps points at or after now minus the span",
			points: []string{
				"a@2026-11-13T11:59:59Z", // one second too old
				"b@2026-11-13T12:00:00Z", // exactly at the cutoff
				"c@2026-11-20T11:00:00Z",
				"d@2026-11-21T00:00:00Z", // after now
			},
			rules:  Rules{Within: 7 * Day},
			keep:   map[string][]string{"d": {"within 7d"}, "c": {"within 7d"}, "b": {"within 7d"}},
			remove: []string{"a"},
		},
		{
			name:   "within and last overlap",
			points: []string{"a@2026-01-01T00:00:00Z", "b@2026-11-20T00:00:00Z"},
			rules:  Rules{Last: 2, Within: 36 * time.Hour},
			keep:   map[string][]string{"b": {"last 1", "within 1d12h"}, "a": {"last 2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, remove, err := Plan(pts(t, tt.points...), tt.rules, at(t, now))
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if got := keptReasons(keep); !equalReasons(got, tt.keep) {
				t.Errorf("keep = %v, want %v", got, tt.keep)
			}
			if got := ids(remove); !slices.Equal(got, tt.remove) {
				t.Errorf("remove = %v, want %v", got, tt.remove)
			}
			for _, d := range remove {
				if len(d.Reasons) != 0 {
					t.Errorf("removed point %s has reasons %v", d.Point.ID, d.Reasons)
				}
			}
			if len(keep)+len(remove) != len(tt.points) {
				t.Errorf("keep %d + remove %d != %d points", len(keep), len(remove), len(tt.points))
			}
		})
	}
}

func equalReasons(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestApplyTags(t *testing.T) {
	points := pts(t, "a@2020-01-01T00:00:00Z", "b@2021-01-01T00:00:00Z", "c@2026-11-20T00:00:00Z")
	points[0].Tags = []string{"x", "monthly-archive"}
	points[1].Tags = []string{"other"}
	keep, remove := Apply(points, Rules{Last: 1, Tags: []string{"legal", "monthly-archive"}}, at(t, "2026-11-20T12:00:00Z"))
	want := map[string][]string{"c": {"last 1"}, "a": {"tag monthly-archive"}}
	if got := keptReasons(keep); !equalReasons(got, want) {
		t.Errorf("keep = %v, want %v", got, want)
	}
	if got := ids(remove); !slices.Equal(got, []string{"b"}) {
		t.Errorf("remove = %v, want [b]", got)
	}
}

func TestApplyOrderIndependent(t *testing.T) {
	points := pts(t,
		"p1@2026-11-20T10:00:00Z", "p2@2026-11-20T10:00:00Z", "p3@2026-11-20T10:00:00Z",
		"p4@2026-11-19T10:00:00Z", "p5@2026-10-01T00:00:00Z", "p6@2025-12-31T00:00:00Z",
	)
	rules := Rules{Last: 2, Daily: 1, Monthly: 2, Yearly: 2}
	now := at(t, "2026-11-20T12:00:00Z")
	wantKeep, wantRemove := Apply(points, rules, now)
	orig := slices.Clone(points)
	for i := range 20 {
		shuffled := slices.Clone(points)
		// A deterministic permutation per round.
		for j := range shuffled {
			k := (j*7 + i*3) % len(shuffled)
			shuffled[j], shuffled[k] = shuffled[k], shuffled[j]
		}
		keep, remove := Apply(shuffled, rules, now)
		if !slices.Equal(ids(keep), ids(wantKeep)) || !slices.Equal(ids(remove), ids(wantRemove)) {
			t.Fatalf("round %d: keep %v remove %v, want %v %v", i, ids(keep), ids(remove), ids(wantKeep), ids(wantRemove))
		}
	}
	if got := ids(wantKeep); !slices.Equal(got, []string{"p1", "p2", "p5", "p6"}) {
		t.Errorf("keep = %v, want [p1 p2 p5 p6]", got)
	}
	for i := range points {
		if points[i].ID != orig[i].ID {
			t.Fatalf("Apply reordered its input")
		}
	}
}

func TestPlanRefusesEmptyRules(t *testing.T) {
	points := pts(t, "a@2026-11-20T00:00:00Z", "b@2026-11-19T00:00:00Z")
	keep, remove, err := Plan(points, Rules{}, at(t, "2026-11-20T12:00:00Z"))
	if !errors.Is(err, ErrNoRule) {
		t.Fatalf("Plan with no rule: err = %v, want ErrNoRule", err)
	}
	if err.Error() != "no keep rule given; refusing to forget everything" {
		t.Errorf("message = %q", err)
	}
	if keep != nil || remove != nil {
		t.Errorf("Plan returned decisions with an error: %v %v", keep, remove)
	}
}

func TestPlanRefusesInvalidRules(t *testing.T) {
	points := pts(t, "a@2026-11-20T00:00:00Z")
	_, _, err := Plan(points, Rules{Last: 1, Daily: -1}, at(t, "2026-11-20T12:00:00Z"))
	if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "keep-daily") {
		t.Fatalf("err = %v, want ErrInvalidRule naming keep-daily", err)
	}
}

func TestApplyNeverRemovesWithoutValidRule(t *testing.T) {
	points := pts(t, "a@2026-11-20T00:00:00Z", "b@2026-11-19T00:00:00Z")
	for _, r := range []Rules{{}, {Last: -1}, {Daily: 2, Within: -time.Hour}, {Tags: []string{""}}} {
		keep, remove := Apply(points, r, at(t, "2026-11-20T12:00:00Z"))
		if len(remove) != 0 || len(keep) != len(points) {
			t.Errorf("Apply(%+v) kept %d removed %d, want all kept", r, len(keep), len(remove))
		}
	}
}

func TestApplyNoPoints(t *testing.T) {
	keep, remove, err := Plan(nil, Rules{Last: 3, Daily: 3}, time.Now())
	if err != nil || len(keep) != 0 || len(remove) != 0 {
		t.Fatalf("Plan(nil) = %v, %v, %v", keep, remove, err)
	}
}
