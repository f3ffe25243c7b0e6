package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/plan"
)

// TestPlanFileFallsDueEachMinute checks that the plan file the benchmark
// applies is accepted whole and that every plan in it is due at the next
// minute.
func TestPlanFileFallsDueEachMinute(t *testing.T) {
	const n = 1000
	plans, err := plan.Decode(bytes.NewReader(planFile(n, "sched")))
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != n {
		t.Fatalf("%d plans, want %d", len(plans), n)
	}
	from := time.Date(2026, 12, 2, 14, 3, 17, 0, time.UTC)
	want := nextMinute(from)
	for i, p := range plans {
		if p.Name != planName(i) || p.Vault != "sched" || len(p.Hosts()) != 1 {
			t.Fatalf("plan %d: %s in %s for hosts %v", i, p.Name, p.Vault, p.Hosts())
		}
		e, err := p.Entry()
		if err != nil {
			t.Fatalf("plan %s: %v", p.Name, err)
		}
		if got := e.Spec.Next(from); !got.Equal(want) {
			t.Fatalf("plan %s (%s) is next due at %s, want %s", p.Name, e.Spec, got, want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {50, 3}, {99, 5}, {100, 5}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of none = %v", got)
	}
}
