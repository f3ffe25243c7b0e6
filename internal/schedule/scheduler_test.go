package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bunkerhq/bunker/internal/schedule"
	"github.com/bunkerhq/bunker/internal/schedule/schedtest"
)

func at(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return ts
}

func every(d time.Duration) schedule.Spec { return schedule.Rate{Every: d} }

func cron(t *testing.T, expr, zone string) schedule.Spec {
	t.Helper()
	loc, err := schedule.LoadZone(zone)
	if err != nil {
		t.Fatal(err)
	}
	c, err := schedule.ParseCron(expr, loc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// describe renders events compactly for comparison.
func describe(events []schedule.Event) []string {
	var out []string
	for _, e := range events {
		s := fmt.Sprintf("%s %s %s", e.Kind, e.Plan, e.Slot.UTC().Format(time.RFC3339))
		switch e.Kind {
		case schedule.Run:
			s += " late " + e.Late.String()
		case schedule.Missed:
			s += fmt.Sprintf(" first %s count %d: %s", e.First.UTC().Format(time.RFC3339), e.Count, e.Reason)
		case schedule.Overdue:
			s += " deadline " + e.Deadline.UTC().Format(time.RFC3339)
		}
		out = append(out, s)
	}
	return out
}

func expect(t *testing.T, got []schedule.Event, want ...string) {
	t.Helper()
	if d := describe(got); !slices.Equal(d, want) {
		t.Errorf("events:\n  %q\nwant\n  %q", d, want)
	}
}

func newScheduler(t *testing.T, now string, entries ...schedule.Entry) (*schedule.Scheduler, *schedtest.Clock) {
	t.Helper()
	clock := schedtest.NewClock(at(t, now))
	s := schedule.New(clock)
	for _, e := range entries {
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	return s, clock
}

func entry(id string, spec schedule.Spec) schedule.Entry {
	return schedule.Entry{ID: id, Spec: spec, StartWindow: time.Hour, CompletionWindow: 4 * time.Hour}
}

func TestFiresExactly(t *testing.T) {
	s, clock := newScheduler(t, "2026-05-01T02:59:00Z", entry("db", every(15*time.Minute)))
	if next, _ := s.Next("db"); !next.Equal(at(t, "2026-05-01T03:00:00Z")) {
		t.Fatalf("next = %v", next)
	}
	clock.Set(at(t, "2026-05-01T02:59:59.999Z"))
	expect(t, s.Tick())
	clock.Set(at(t, "2026-05-01T03:00:00Z"))
	expect(t, s.Tick(), "run db 2026-05-01T03:00:00Z late 0s")
	expect(t, s.Tick())
	if err := s.Done("db", at(t, "2026-05-01T03:00:00Z")); err != nil {
		t.Fatal(err)
	}
	clock.Set(at(t, "2026-05-01T03:15:00Z"))
	expect(t, s.Tick(), "run db 2026-05-01T03:15:00Z late 0s")
}

func TestNewPlanStartsAfterPut(t *testing.T) {
	// A daily plan put at 03:10 does not run today's 03:00 late.
	s, clock := newScheduler(t, "2026-05-01T03:10:00Z", entry("db", cron(t, "0 3 * * *", "")))
	expect(t, s.Tick())
	clock.Set(at(t, "2026-05-02T03:00:00Z"))
	expect(t, s.Tick(), "run db 2026-05-02T03:00:00Z late 0s")
}

func TestMissedInsideWindowRunsLate(t *testing.T) {
	e := entry("db", cron(t, "0 3 * * *", ""))
	e.Last = at(t, "2026-04-30T03:00:00Z")
	// The server comes back at 03:40, inside the hour of the start window.
	s, _ := newScheduler(t, "2026-05-01T03:40:00Z", e)
	expect(t, s.Tick(), "run db 2026-05-01T03:00:00Z late 40m0s")
}

func TestMissedOutsideWindowIsReportedOnce(t *testing.T) {
	e := entry("db", cron(t, "0 3 * * *", ""))
	e.Last = at(t, "2026-04-28T03:00:00Z")
	s, clock := newScheduler(t, "2026-05-01T05:00:00Z", e)
	expect(t, s.Tick(), "missed db 2026-05-01T03:00:00Z first 2026-04-29T03:00:00Z count 3: "+schedule.MissedWindow)
	expect(t, s.Tick())
	clock.Set(at(t, "2026-05-01T23:00:00Z"))
	expect(t, s.Tick())
	clock.Set(at(t, "2026-05-02T03:00:00Z"))
	expect(t, s.Tick(), "run db 2026-05-02T03:00:00Z late 0s")
}

func TestMissedOlderSlotsThenLateRun(t *testing.T) {
	e := entry("db", every(time.Hour))
	e.StartWindow = 30 * time.Minute
	e.Last = at(t, "2026-05-01T00:00:00Z")
	s, _ := newScheduler(t, "2026-05-01T03:20:00Z", e)
	expect(t, s.Tick(),
		"missed db 2026-05-01T02:00:00Z first 2026-05-01T01:00:00Z count 2: "+schedule.MissedWindow,
		"run db 2026-05-01T03:00:00Z late 20m0s")
}

func TestLongOutageCountStops(t *testing.T) {
	e := entry("db", every(time.Minute))
	e.StartWindow = 30 * time.Second
	e.Last = at(t, "2026-04-01T00:00:00Z")
	s, clock := newScheduler(t, "2026-05-01T00:00:10Z", e)
	expect(t, s.Tick(), fmt.Sprintf("missed db 2026-04-30T23:59:00Z first 2026-04-01T00:01:00Z count %d: %s", schedule.MaxMissedCount, schedule.MissedWindow),
		"run db 2026-05-01T00:00:00Z late 10s")
	clock.Set(at(t, "2026-05-01T00:01:00Z"))
	if err := s.Done("db", at(t, "2026-05-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	expect(t, s.Tick(), "run db 2026-05-01T00:01:00Z late 0s")
}

func TestRunWindows(t *testing.T) {
	e := entry("db", cron(t, "0 3 * * *", ""))
	s, clock := newScheduler(t, "2026-05-01T00:00:00Z", e)
	slot := at(t, "2026-05-01T03:00:00Z")
	clock.Set(slot)
	expect(t, s.Tick(), "run db 2026-05-01T03:00:00Z late 0s")
	// Nobody starts it: at the end of the start window it is missed.
	clock.Set(slot.Add(59 * time.Minute))
	expect(t, s.Tick())
	clock.Set(slot.Add(time.Hour))
	expect(t, s.Tick(), "missed db 2026-05-01T03:00:00Z first 2026-05-01T03:00:00Z count 1: "+schedule.MissedNotStarted)
	if err := s.Started("db", slot, slot.Add(time.Hour)); !errors.Is(err, schedule.ErrNoRun) {
		t.Errorf("Started after the window: %v, want ErrNoRun", err)
	}

	// The next day the agent starts it 10 minutes late, and it overruns.
	slot = slot.Add(24 * time.Hour)
	clock.Set(slot)
	expect(t, s.Tick(), "run db 2026-05-02T03:00:00Z late 0s")
	started := slot.Add(10 * time.Minute)
	clock.Set(started)
	if err := s.Started("db", slot, started); err != nil {
		t.Fatal(err)
	}
	clock.Set(slot.Add(2 * time.Hour))
	expect(t, s.Tick())
	clock.Set(started.Add(4 * time.Hour))
	expect(t, s.Tick(), "overdue db 2026-05-02T03:00:00Z deadline 2026-05-02T07:10:00Z")
	clock.Set(started.Add(5 * time.Hour))
	expect(t, s.Tick())
	if _, run, _ := s.State("db"); run == nil || !run.Started.Equal(started) {
		t.Errorf("state run = %+v, want the started run", run)
	}
	if err := s.Done("db", slot); err != nil {
		t.Fatal(err)
	}
	if err := s.Done("db", slot); !errors.Is(err, schedule.ErrNoRun) {
		t.Errorf("second Done: %v", err)
	}
}

func TestBusyPlanMissesSlot(t *testing.T) {
	e := entry("db", every(15*time.Minute))
	e.StartWindow, e.CompletionWindow = 10*time.Minute, time.Hour
	s, clock := newScheduler(t, "2026-05-01T00:00:00Z", e)
	clock.Set(at(t, "2026-05-01T00:15:00Z"))
	expect(t, s.Tick(), "run db 2026-05-01T00:15:00Z late 0s")
	if err := s.Started("db", at(t, "2026-05-01T00:15:00Z"), clock.Now()); err != nil {
		t.Fatal(err)
	}
	clock.Set(at(t, "2026-05-01T00:30:00Z"))
	expect(t, s.Tick(), "missed db 2026-05-01T00:30:00Z first 2026-05-01T00:30:00Z count 1: "+schedule.MissedBusy)
}

func TestRestartDoesNotFireTwice(t *testing.T) {
	e := entry("db", cron(t, "0 3 * * *", ""))
	s, clock := newScheduler(t, "2026-05-01T02:00:00Z", e)
	clock.Set(at(t, "2026-05-01T03:00:00Z"))
	expect(t, s.Tick(), "run db 2026-05-01T03:00:00Z late 0s")
	last, run, _ := s.State("db")

	// The server stops before the run started and comes back 20 minutes
	// later with the state it recorded.
	e.Last, e.Run, e.Since = last, run, at(t, "2026-04-01T00:00:00Z")
	clock.Set(at(t, "2026-05-01T03:20:00Z"))
	s2 := schedule.New(clock)
	if err := s2.Put(e); err != nil {
		t.Fatal(err)
	}
	expect(t, s2.Tick())
	if err := s2.Started("db", run.Slot, clock.Now()); err != nil {
		t.Fatalf("the recorded run cannot start: %v", err)
	}
	if err := s2.Done("db", run.Slot); err != nil {
		t.Fatal(err)
	}

	// Again, with no run recorded, inside the start window: still no fire.
	e.Run = nil
	s3 := schedule.New(clock)
	if err := s3.Put(e); err != nil {
		t.Fatal(err)
	}
	expect(t, s3.Tick())
	clock.Set(at(t, "2026-05-02T03:00:00Z"))
	expect(t, s3.Tick(), "run db 2026-05-02T03:00:00Z late 0s")
}

func TestRestartReportsMissedOnce(t *testing.T) {
	e := entry("db", cron(t, "0 3 * * *", ""))
	e.Since = at(t, "2026-04-01T00:00:00Z")
	e.Last = at(t, "2026-04-29T03:00:00Z")
	clock := schedtest.NewClock(at(t, "2026-05-01T12:00:00Z"))
	var recorded time.Time
	for i := range 3 {
		s := schedule.New(clock)
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
		events := s.Tick()
		if i == 0 {
			expect(t, events, "missed db 2026-05-01T03:00:00Z first 2026-04-30T03:00:00Z count 2: "+schedule.MissedWindow)
		} else {
			expect(t, events)
		}
		for _, ev := range events {
			recorded = ev.Slot
		}
		e.Last = recorded
	}
}

func TestPutChangesSpecKeepsLast(t *testing.T) {
	s, clock := newScheduler(t, "2026-05-01T02:00:00Z", entry("db", cron(t, "0 3 * * *", "")))
	clock.Set(at(t, "2026-05-01T03:00:00Z"))
	expect(t, s.Tick(), "run db 2026-05-01T03:00:00Z late 0s")
	// The schedule changes to 03:00 in Berlin, which is 01:00 UTC.
	if err := s.Put(entry("db", cron(t, "0 3 * * *", "Europe/Berlin"))); err != nil {
		t.Fatal(err)
	}
	if next, _ := s.Next("db"); !next.Equal(at(t, "2026-05-02T01:00:00Z")) {
		t.Errorf("next = %v", next)
	}
	if _, run, _ := s.State("db"); run == nil {
		t.Error("the change dropped the run")
	}
	s.Remove("db")
	if s.Len() != 0 {
		t.Error("Remove left the plan")
	}
	clock.Set(at(t, "2026-05-03T00:00:00Z"))
	expect(t, s.Tick())
}

func TestPutRefusesBadEntries(t *testing.T) {
	s := schedule.New(schedtest.NewClock(time.Now()))
	for _, e := range []schedule.Entry{
		{Spec: every(time.Hour), StartWindow: time.Hour, CompletionWindow: time.Hour},
		{ID: "a", StartWindow: time.Hour, CompletionWindow: time.Hour},
		{ID: "a", Spec: every(time.Hour), CompletionWindow: time.Hour},
	} {
		if err := s.Put(e); err == nil {
			t.Errorf("Put(%+v) accepted", e)
		}
	}
	if err := s.Started("x", time.Now(), time.Now()); !errors.Is(err, schedule.ErrUnknown) {
		t.Errorf("Started on an unknown plan: %v", err)
	}
}

func TestDSTThroughTheScheduler(t *testing.T) {
	e := entry("db", cron(t, "30 2 * * *", "Europe/Berlin"))
	s, clock := newScheduler(t, "2026-03-27T12:00:00Z", e)
	var fired []string
	for now := clock.Now(); now.Before(at(t, "2026-03-31T00:00:00Z")); now = now.Add(time.Minute) {
		clock.Set(now)
		for _, ev := range s.Tick() {
			fired = append(fired, describe([]schedule.Event{ev})...)
			if ev.Kind == schedule.Run {
				if err := s.Done("db", ev.Slot); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := []string{"run db 2026-03-28T01:30:00Z late 0s", "run db 2026-03-29T01:00:00Z late 0s", "run db 2026-03-30T00:30:00Z late 0s"}
	if !slices.Equal(fired, want) {
		t.Errorf("fired %q, want %q", fired, want)
	}
}

func TestManyPlansFakeClock(t *testing.T) {
	const n = 5000
	clock := schedtest.NewClock(at(t, "2026-04-30T23:59:59Z"))
	s := schedule.New(clock)
	for i := range n {
		e := entry(fmt.Sprintf("p%04d", i), cron(t, fmt.Sprintf("%d %d * * *", i%60, (i/60)%24), ""))
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	for now := clock.Now(); now.Before(at(t, "2026-05-02T00:00:00Z")); now = now.Add(time.Second) {
		clock.Set(now)
		for _, ev := range s.Tick() {
			if ev.Kind != schedule.Run || ev.Late != 0 {
				t.Fatalf("unexpected event %v", describe([]schedule.Event{ev}))
			}
			runs++
			if err := s.Done(ev.Plan, ev.Slot); err != nil {
				t.Fatal(err)
			}
		}
	}
	if runs != n {
		t.Errorf("%d runs in a day, want %d", runs, n)
	}
}

// once is due at one instant.
type once time.Time

func (o once) Next(t time.Time) time.Time {
	if t.Before(time.Time(o)) {
		return time.Time(o)
	}
	return time.Time{}
}

func (o once) String() string { return "once" }

func TestRunWithFakeClock(t *testing.T) {
	s, clock := newScheduler(t, "2026-05-01T00:00:00Z", entry("a", every(time.Minute)), entry("b", every(2*time.Minute)))
	events := make(chan schedule.Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- s.Run(ctx, func(_ context.Context, es []schedule.Event) {
			for _, e := range es {
				events <- e
				if err := s.Done(e.Plan, e.Slot); err != nil {
					t.Error(err)
				}
			}
		})
	}()
	receive := func(want ...string) {
		t.Helper()
		var got []schedule.Event
		for range want {
			select {
			case e := <-events:
				got = append(got, e)
			case <-time.After(10 * time.Second):
				t.Fatalf("no event; got %q so far", describe(got))
			}
		}
		sort.Slice(got, func(i, j int) bool { return got[i].Plan < got[j].Plan })
		expect(t, got, want...)
	}
	clock.Set(at(t, "2026-05-01T00:01:00Z"))
	receive("run a 2026-05-01T00:01:00Z late 0s")
	clock.Set(at(t, "2026-05-01T00:02:00Z"))
	receive("run a 2026-05-01T00:02:00Z late 0s", "run b 2026-05-01T00:02:00Z late 0s")
	// A plan put while Run waits is woken for.
	if err := s.Put(entry("c", once(at(t, "2026-05-01T00:02:30Z")))); err != nil {
		t.Fatal(err)
	}
	clock.Set(at(t, "2026-05-01T00:02:30Z"))
	receive("run c 2026-05-01T00:02:30Z late 0s")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// TestLatenessRealClock puts 1,000 plans due in the same second on the
// machine's clock and measures how late each run is handed over.
func TestLatenessRealClock(t *testing.T) {
	const n = 1000
	s := schedule.New(schedule.SystemClock{})
	due := time.Now().Truncate(time.Second).Add(2 * time.Second)
	for i := range n {
		// Half are due at the same instant, half spread over the second.
		slot := due
		if i%2 == 1 {
			slot = due.Add(time.Duration(i) * time.Millisecond)
		}
		if err := s.Put(schedule.Entry{ID: fmt.Sprintf("p%04d", i), Spec: once(slot), StartWindow: time.Minute, CompletionWindow: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		late []time.Duration
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		_ = s.Run(ctx, func(_ context.Context, es []schedule.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range es {
				if e.Kind == schedule.Run {
					late = append(late, time.Since(e.Slot))
				}
			}
			if len(late) >= n {
				cancel()
			}
		})
	}()
	<-ctx.Done()
	mu.Lock()
	defer mu.Unlock()
	if len(late) != n {
		t.Fatalf("%d of %d runs fired", len(late), n)
	}
	slices.Sort(late)
	t.Logf("lateness of %d runs: median %v, p99 %v, max %v", n, late[n/2], late[n*99/100], late[n-1])
	if late[0] < 0 {
		t.Errorf("a run fired %v early", -late[0])
	}
	if late[n-1] >= time.Second {
		t.Errorf("the latest run fired %v late, want under a second", late[n-1])
	}
}
