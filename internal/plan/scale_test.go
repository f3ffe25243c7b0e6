package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/schedule/schedtest"
)

// TestThousandPlans reads a file of 1,000 plans, applies it twice, and
// runs them through the scheduler for a day.
func TestThousandPlans(t *testing.T) {
	const n = 1000
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\nname: p%04d\nschedule: {cron: \"%d %d * * *\", timezone: %s}\nvault: prod\n"+
			"sources: [{host: host%03d, paths: [/srv/%d]}]\nretention: {keep_daily: 7, keep_monthly: 12}\n",
			i, i%60, (i/60)%24, zones[i%len(zones)], i%100, i)
	}
	start := time.Now()
	plans, err := Decode(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	decoded := time.Since(start)
	var file bytes.Buffer
	if err := Encode(&file, plans); err != nil {
		t.Fatal(err)
	}
	again, err := Decode(&file)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if d := Diff(plans, again); len(d) != 0 {
		t.Fatalf("applying the same plans again changes %d", len(d))
	}
	t.Logf("%d plans: decoded in %v, compared in %v", n, decoded, time.Since(start))

	clock := schedtest.NewClock(time.Date(2026, 5, 31, 23, 59, 0, 0, time.UTC))
	s := schedule.New(clock)
	for _, p := range plans {
		e, err := p.Entry()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	runs := make(map[string]int)
	for now := clock.Now().Add(time.Minute); now.Before(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)); now = now.Add(time.Minute) {
		clock.Set(now)
		for _, ev := range s.Tick() {
			if ev.Kind != schedule.Run || ev.Late != 0 {
				t.Fatalf("%s %s late %v", ev.Kind, ev.Plan, ev.Late)
			}
			runs[ev.Plan]++
			if err := s.Done(ev.Plan, ev.Slot); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(runs) != n {
		t.Errorf("%d of %d plans ran in a day", len(runs), n)
	}
	for name, k := range runs {
		if k != 1 {
			t.Errorf("%s ran %d times", name, k)
		}
	}
}
