package plan

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/policy"
)

func point(id, host string, at time.Time, verified bool) Point {
	return Point{Point: policy.Point{ID: id, Time: at, Host: host, Paths: []string{"/data"}}, Verified: verified}
}

func decisionIDs(ds []policy.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Point.ID)
	}
	slices.Sort(out)
	return out
}

func TestRetentionCountsOnlyVerifiedPoints(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	var points []Point
	for i := range 5 {
		points = append(points, point(fmt.Sprintf("real%d", i), "db1", now.Add(-time.Duration(5-i)*24*time.Hour), true))
	}
	// A compromised agent floods the vault with a thousand empty points,
	// all newer than the real ones.
	for i := range 1000 {
		points = append(points, point(fmt.Sprintf("junk%04d", i), "db1", now.Add(-time.Duration(i)*time.Second), false))
	}
	d := Retention{Keep: policy.Rules{Last: 3}}.Apply(points, now)
	if got := decisionIDs(d.Keep); !slices.Equal(got, []string{"real2", "real3", "real4"}) {
		t.Errorf("kept %v", got)
	}
	if got := decisionIDs(d.Remove); !slices.Equal(got, []string{"real0", "real1"}) {
		t.Errorf("removed %v", got)
	}
	if len(d.Unverified) != 1000 {
		t.Errorf("%d unverified", len(d.Unverified))
	}
}

func TestRetentionPerSource(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	points := []Point{
		point("a1", "web1", now.Add(-3*time.Hour), true), point("a2", "web1", now.Add(-2*time.Hour), true),
		point("b1", "web2", now.Add(-time.Hour), true), point("b2", "web2", now, true),
	}
	d := Retention{Keep: policy.Rules{Last: 1}}.Apply(points, now)
	if got := decisionIDs(d.Keep); !slices.Equal(got, []string{"a2", "b2"}) {
		t.Errorf("kept %v, want the newest of each host", got)
	}
}

func TestRetentionMaxAge(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	points := []Point{
		point("old", "h", now.Add(-100*24*time.Hour), true), point("mid", "h", now.Add(-40*24*time.Hour), true), point("new", "h", now, true),
	}
	d := Retention{Keep: policy.Rules{Monthly: 12}, MaxAge: 90 * 24 * time.Hour}.Apply(points, now)
	if got := decisionIDs(d.Keep); !slices.Equal(got, []string{"mid", "new"}) {
		t.Errorf("kept %v", got)
	}
	if got := decisionIDs(d.Remove); !slices.Equal(got, []string{"old"}) {
		t.Errorf("removed %v", got)
	}
	// No rule but max_age keeps everything younger.
	d = Retention{MaxAge: 50 * 24 * time.Hour}.Apply(points, now)
	if got := decisionIDs(d.Keep); !slices.Equal(got, []string{"mid", "new"}) {
		t.Errorf("max_age alone kept %v", got)
	}
	// No rule at all removes nothing.
	if d := (Retention{}).Apply(points, now); len(d.Remove) != 0 || len(d.Keep) != 3 {
		t.Errorf("no rules: keep %d remove %d", len(d.Keep), len(d.Remove))
	}
}
