// Command schedbench measures how punctually a bunker server's scheduler
// fires many plans at once, for the benchmark harness in bench/run.sh.
//
// Usage:
//
//	schedbench -url https://127.0.0.1:8443 -fingerprint sha256:… -vault sched \
//	           -apply-token-file VADMIN.token -events-token-file ADMIN.token \
//	           [-plans 1000] [-min-lead 15s] [-poll 10ms] [-timeout 90s]
//
// It applies one plan file of -plans plans into -vault (one source on one
// host each; half of them scheduled "rate: every 1m", half "cron: * * * * *"),
// timed so that their first slot, the next minute of the server's clock, is
// at least -min-lead away when the apply is sent: every plan then falls due
// in the same second. It then follows the server's event stream
// (GET /v1/events?after=N) until every plan's plan.due event is there, and
// measures, for each plan, how late after its slot
//
//   - the scheduler fired it: the event's time, the server's clock when its
//     scheduler found the slot due (one look at its queue finds every plan
//     due in that second, so they share it), minus the slot;
//   - the run was recorded: when the poll that first returned the event was
//     answered, minus the slot. The event is committed with the plan's
//     queued job, so this is an upper bound on when the job and the event
//     were in the server's store; it is late by at most one poll interval
//     and one request.
//
// It prints key=value lines: plans, apply_s (the apply request), lead_s
// (slot minus the end of the apply), due (plan.due events seen), missed
// (plan.missed events seen for the plans), fired_p50_ms, fired_p99_ms,
// fired_max_ms, recorded_p50_ms, recorded_p99_ms, recorded_max_ms (nearest
// rank), recorded_first_ms, polls and poll_p50_ms (the event requests'
// round trip). It fails when a plan's slot is not reported within -timeout
// of the slot; it never judges the figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/bunkerhq/bunker/internal/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "schedbench: %v\n", err)
		os.Exit(1)
	}
}

// config holds the command line.
type config struct {
	url, fingerprint, vault string
	applyToken, eventsToken string
	plans                   int
	minLead, poll, timeout  time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schedbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var applyFile, eventsFile string
	fs.StringVar(&cfg.url, "url", "", "server base `URL`, https://host:port")
	fs.StringVar(&cfg.fingerprint, "fingerprint", "", "the server certificate's `fingerprint` (sha256:…)")
	fs.StringVar(&cfg.vault, "vault", "", "the `vault` the plans write to")
	fs.StringVar(&applyFile, "apply-token-file", "", "`file` holding a token of a vault-admin of the vault")
	fs.StringVar(&eventsFile, "events-token-file", "", "`file` holding a token that may read the event stream (security-admin or auditor)")
	fs.IntVar(&cfg.plans, "plans", 1000, "how many plans to apply")
	fs.DurationVar(&cfg.minLead, "min-lead", 15*time.Second, "least time between sending the apply and the plans' first slot")
	fs.DurationVar(&cfg.poll, "poll", 10*time.Millisecond, "pause between two requests for new events")
	fs.DurationVar(&cfg.timeout, "timeout", 90*time.Second, "how long after the slot to wait for every plan to be reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.url == "" || cfg.fingerprint == "" || cfg.vault == "" || applyFile == "" || eventsFile == "" || fs.NArg() != 0 {
		return errors.New("usage: schedbench -url URL -fingerprint FP -vault VAULT -apply-token-file FILE -events-token-file FILE [-plans N]")
	}
	if cfg.plans < 1 || cfg.plans > 5000 {
		return fmt.Errorf("-plans %d: want 1 to 5000 (the most one plan file holds)", cfg.plans)
	}
	var err error
	if cfg.applyToken, err = readToken(applyFile); err != nil {
		return err
	}
	if cfg.eventsToken, err = readToken(eventsFile); err != nil {
		return err
	}
	res, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	res.print(stdout)
	return nil
}

func readToken(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// planName is the name of the i-th plan.
func planName(i int) string { return fmt.Sprintf("sched-%04d", i) }

// planFile returns a plan file of n plans into vault, every one due at
// each minute: the even ones by rate, the odd ones by cron.
func planFile(n int, vault string) []byte {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "kind: plan\nname: %s\n", planName(i))
		if i%2 == 0 {
			b.WriteString("schedule:\n  rate: every 1m\n")
		} else {
			b.WriteString("schedule:\n  cron: \"* * * * *\"\n")
		}
		fmt.Fprintf(&b, "vault: %s\nsources:\n  - host: host-%03d\n    paths: [/srv/data-%04d]\n", vault, i%100, i)
	}
	return []byte(b.String())
}

// result is what one measurement found.
type result struct {
	plans          int
	apply, lead    time.Duration
	fired          []time.Duration // per plan: the event's time minus its slot
	recorded       []time.Duration // per plan: when the event was first seen, minus its slot
	missed         int
	pollRoundTrips []time.Duration
}

// measure applies the plans at the right moment and follows the events
// until each plan's first slot is reported.
func measure(ctx context.Context, cfg config) (*result, error) {
	admin, err := client.New(client.Options{URL: cfg.url, Fingerprint: cfg.fingerprint, Token: cfg.applyToken})
	if err != nil {
		return nil, err
	}
	events, err := client.New(client.Options{URL: cfg.url, Fingerprint: cfg.fingerprint, Token: cfg.eventsToken})
	if err != nil {
		return nil, err
	}
	after, err := lastEvent(ctx, events)
	if err != nil {
		return nil, fmt.Errorf("read the event stream: %w", err)
	}
	file := planFile(cfg.plans, cfg.vault)

	// The server runs on this machine, so its clock is ours. Apply early
	// enough in a minute that the whole apply is over before the next one.
	if lead := time.Until(nextMinute(time.Now())); lead < cfg.minLead {
		if err := sleep(ctx, lead+100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	slot := nextMinute(start)
	changes, err := admin.ApplyPlans(ctx, file, client.ApplyOptions{})
	if err != nil {
		return nil, fmt.Errorf("apply %d plans: %w", cfg.plans, err)
	}
	end := time.Now()
	if len(changes) != cfg.plans {
		return nil, fmt.Errorf("applying %d plans changed %d; want a server without plans", cfg.plans, len(changes))
	}
	if !end.Before(slot) {
		return nil, fmt.Errorf("the apply took %v and ran past the slot at %s; raise -min-lead", end.Sub(start).Round(time.Millisecond), slot.Format(time.TimeOnly))
	}
	res := &result{plans: cfg.plans, apply: end.Sub(start), lead: slot.Sub(end)}

	// Follow the events until every plan has reported its slot.
	want := make(map[string]bool, cfg.plans)
	for i := range cfg.plans {
		want[planName(i)] = true
	}
	deadline := slot.Add(cfg.timeout)
	if err := sleep(ctx, time.Until(slot.Add(-time.Second))); err != nil {
		return nil, err
	}
	for len(want) > 0 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d plans were not reported due within %v of their slot %s", len(want), cfg.plans, cfg.timeout, slot.Format(time.TimeOnly))
		}
		t0 := time.Now()
		page, err := events.Events(ctx, after, 5000)
		seen := time.Now()
		if err != nil {
			return nil, fmt.Errorf("read the event stream: %w", err)
		}
		res.pollRoundTrips = append(res.pollRoundTrips, seen.Sub(t0))
		after = page.Next
		for _, e := range page.Events {
			name, _ := e.Data["plan"].(string)
			switch {
			case e.Kind == "plan.missed" && strings.HasPrefix(name, "sched-"):
				res.missed++
			case e.Kind != "plan.due" || !want[name]:
			default:
				s, _ := e.Data["slot"].(string)
				at, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, fmt.Errorf("plan.due event %d: slot %q: %v", e.ID, s, err)
				}
				if !at.Equal(slot) {
					return nil, fmt.Errorf("plan %s fell due at %s, want %s", name, at.Format(time.RFC3339), slot.Format(time.RFC3339))
				}
				delete(want, name)
				res.fired = append(res.fired, e.Time.Sub(slot))
				res.recorded = append(res.recorded, seen.Sub(slot))
			}
		}
		if len(page.Events) == 0 {
			if err := sleep(ctx, cfg.poll); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// lastEvent returns the id of the newest event.
func lastEvent(ctx context.Context, c *client.Client) (int64, error) {
	var after int64
	for {
		page, err := c.Events(ctx, after, 5000)
		if err != nil {
			return 0, err
		}
		if len(page.Events) == 0 {
			return after, nil
		}
		after = page.Next
	}
}

// nextMinute returns the first whole minute after t.
func nextMinute(t time.Time) time.Time {
	return t.Truncate(time.Minute).Add(time.Minute)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// percentile returns the p-th percentile of ds (nearest rank), 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "plans=%d\n", r.plans)
	fmt.Fprintf(w, "apply_s=%.3f\n", r.apply.Seconds())
	fmt.Fprintf(w, "lead_s=%.3f\n", r.lead.Seconds())
	fmt.Fprintf(w, "due=%d\n", len(r.recorded))
	fmt.Fprintf(w, "missed=%d\n", r.missed)
	for _, f := range []struct {
		name string
		ds   []time.Duration
	}{{"fired", r.fired}, {"recorded", r.recorded}} {
		fmt.Fprintf(w, "%s_p50_ms=%s\n", f.name, ms(percentile(f.ds, 50)))
		fmt.Fprintf(w, "%s_p99_ms=%s\n", f.name, ms(percentile(f.ds, 99)))
		fmt.Fprintf(w, "%s_max_ms=%s\n", f.name, ms(percentile(f.ds, 100)))
	}
	fmt.Fprintf(w, "recorded_first_ms=%s\n", ms(percentile(r.recorded, 0)))
	fmt.Fprintf(w, "polls=%d\n", len(r.pollRoundTrips))
	fmt.Fprintf(w, "poll_p50_ms=%s\n", ms(percentile(r.pollRoundTrips, 50)))
}
