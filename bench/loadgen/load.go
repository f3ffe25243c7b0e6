package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Load describes a constant-rate, open-loop load: requests are sent on a
// fixed schedule whether or not earlier ones have been answered, so a slow
// server meets the same offered load as a fast one and its slowness shows
// in the latencies instead of in a lower rate.
type Load struct {
	Client *http.Client
	URL    string // full URL of the GET
	Token  string // sent as a bearer token when not empty
	Rate   float64
	// Warmup is sent at the same rate before the measured Duration; its
	// requests open the connections and are not counted.
	Warmup, Duration time.Duration
	// MaxInFlight bounds the requests awaiting an answer; a request due
	// while that many are outstanding is not sent and counts as an error.
	MaxInFlight int
}

// Result is what a measured load gave.
type Result struct {
	Requests  int             // scheduled in the measured period
	Errors    int             // failed, answered with a status other than 200, or not sent
	FirstErr  string          // the first error, for the log
	Latencies []time.Duration // of the requests answered with 200, in schedule order
	Elapsed   time.Duration   // from the first measured schedule to the last answer
}

// Rate is the answered requests per second over the measured period.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile returns the latency at or below which p percent of the
// answered requests were (nearest rank), 0 with none answered.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// Run sends the load. A request's latency runs from the time the schedule
// gave it to the end of its answer's body, so a request the sender could
// only send late (because the machine was busy) is charged for the delay.
func (l Load) Run(ctx context.Context) (Result, error) {
	if l.Rate <= 0 || l.Duration <= 0 || l.Warmup < 0 || l.MaxInFlight < 1 {
		return Result{}, fmt.Errorf("load: want a positive rate, duration and in-flight bound, got %v/s for %v (warm-up %v), %d in flight",
			l.Rate, l.Duration, l.Warmup, l.MaxInFlight)
	}
	interval := time.Duration(float64(time.Second) / l.Rate)
	start := time.Now()
	measureFrom := start.Add(l.Warmup)
	end := measureFrom.Add(l.Duration)

	type answer struct {
		i   int // index among the measured requests
		lat time.Duration
		at  time.Time
		err error
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, l.MaxInFlight)
	res := Result{}
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * interval)
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				wg.Wait()
				return Result{}, ctx.Err()
			}
		}
		measured := !due.Before(measureFrom)
		idx := -1
		if measured {
			idx = res.Requests
			res.Requests++
		}
		select {
		case slots <- struct{}{}:
		default:
			if measured {
				mu.Lock()
				answers = append(answers, answer{i: idx, at: time.Now(), err: fmt.Errorf("not sent: %d requests in flight", l.MaxInFlight)})
				mu.Unlock()
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := l.get(ctx)
			done := time.Now()
			if measured {
				mu.Lock()
				answers = append(answers, answer{i: idx, lat: done.Sub(due), at: done, err: err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(answers, func(a, b answer) int { return a.i - b.i })
	var last time.Time
	for _, a := range answers {
		if a.at.After(last) {
			last = a.at
		}
		if a.err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = a.err.Error()
			}
			continue
		}
		res.Latencies = append(res.Latencies, a.lat)
	}
	if res.Requests > 0 {
		res.Elapsed = last.Sub(measureFrom)
	}
	return res, nil
}

// get sends one request and reads its answer to the end.
func (l Load) get(ctx context.Context) error {
	_, err := l.fetch(ctx, io.Discard)
	return err
}

// fetch sends one GET and copies its answer's body to w, returning the
// protocol of the answer ("HTTP/1.1", "HTTP/2.0"); anything but 200 is an
// error.
func (l Load) fetch(ctx context.Context, w io.Writer) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
	if err != nil {
		return "", fmt.Errorf("request %s: %w", l.URL, err)
	}
	if l.Token != "" {
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	resp, err := l.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", l.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return resp.Proto, fmt.Errorf("GET %s: HTTP %d: %s", l.URL, resp.StatusCode, msg)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return resp.Proto, fmt.Errorf("GET %s: read answer: %w", l.URL, err)
	}
	return resp.Proto, nil
}
