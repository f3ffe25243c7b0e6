package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTarget fails its first attempts with the given errors, then
// succeeds. With a gate, each attempt first waits for it (or its context).
type fakeTarget struct {
	name    string
	gate    chan struct{}
	started chan string // if set, gets each event's ID as an attempt starts

	mu      sync.Mutex
	results []error
	got     []Event
}

func (f *fakeTarget) Name() string { return f.name }

func (f *fakeTarget) Deliver(ctx context.Context, e Event) error {
	if f.started != nil {
		f.started <- e.ID
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, e)
	if len(f.results) > 0 {
		err := f.results[0]
		f.results = f.results[1:]
		return err
	}
	return nil
}

func (f *fakeTarget) events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.got...)
}

// recorder collects outcomes and the waits a dispatcher asked for.
type recorder struct {
	mu       sync.Mutex
	outcomes []Outcome
	waits    []time.Duration
	done     chan Outcome
}

func newRecorder() *recorder { return &recorder{done: make(chan Outcome, 100)} }

func (r *recorder) outcome(o Outcome) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
	r.done <- o
}

// sleep records the wait and returns at once.
func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) waited() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// next waits for the next outcome.
func (r *recorder) next(t *testing.T) Outcome {
	t.Helper()
	select {
	case o := <-r.done:
		return o
	case <-time.After(20 * time.Second):
		t.Fatal("no outcome")
		return Outcome{}
	}
}

// dispatcher starts a dispatcher reporting to r, with the given retry
// policy, closed when the test ends.
func dispatcher(t *testing.T, r *recorder, retry RetryPolicy, targets ...Target) *Dispatcher {
	t.Helper()
	d, err := New(Options{Targets: targets, Retry: retry, OnOutcome: r.outcome, Sleep: r.sleep, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

var fastRetry = RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 5}

// A receiver failing twice with 503 gets the event on the third attempt,
// each attempt signed, all with the same event ID.
func TestDispatcherRetriesWebhook(t *testing.T) {
	h := startHook(t, 503, 503)
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, newWebhook(t, h.url()))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	o := r.next(t)
	if !o.Delivered() || o.Attempts != 3 {
		t.Fatalf("outcome %+v, want delivered in 3 attempts", o)
	}
	reqs := h.received()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, req := range reqs {
		if req.verify != nil || req.header.Get(HeaderEventID) != "ev-1" {
			t.Errorf("request %d: signature %v, event id %q", i, req.verify, req.header.Get(HeaderEventID))
		}
	}
	w := r.waited()
	if len(w) != 2 || w[0] < 500*time.Millisecond || w[0] > time.Second || w[1] < time.Second || w[1] > 2*time.Second {
		t.Errorf("waits %v, want about 1s then about 2s", w)
	}
}

// A 400 is the receiver's final word: no retry.
func TestDispatcherWebhook400NotRetried(t *testing.T) {
	h := startHook(t, 400, 200)
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, newWebhook(t, h.url()))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	o := r.next(t)
	if o.Delivered() || o.Attempts != 1 || !IsPermanent(o.Err) || !strings.Contains(o.Err.Error(), "400") {
		t.Fatalf("outcome %+v, want a permanent failure after 1 attempt", o)
	}
	if n := len(h.received()); n != 1 || len(r.waited()) != 0 {
		t.Errorf("%d requests and waits %v, want 1 and none", n, r.waited())
	}
}

// A 429's Retry-After is the wait before the next attempt.
func TestDispatcherHonoursRetryAfter(t *testing.T) {
	h := startHook(t, 429)
	h.header.Set("Retry-After", "7")
	r := newRecorder()
	d := dispatcher(t, r, RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: time.Minute, MaxAttempts: 3}, newWebhook(t, h.url()))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	if o := r.next(t); !o.Delivered() || o.Attempts != 2 {
		t.Fatalf("outcome %+v, want delivered in 2 attempts", o)
	}
	if w := r.waited(); len(w) != 1 || w[0] != 7*time.Second {
		t.Errorf("waits %v, want [7s]", w)
	}
}

// A receiver asking for a longer wait than the policy allows fails the
// delivery at once.
func TestDispatcherRetryAfterTooLong(t *testing.T) {
	h := startHook(t, 503)
	h.header.Set("Retry-After", "3600")
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, newWebhook(t, h.url()))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	o := r.next(t)
	if o.Delivered() || o.Attempts != 1 || !strings.Contains(o.Err.Error(), "asked to wait 1h0m0s") {
		t.Fatalf("outcome %+v", o)
	}
}

// An SMTP server answering 451 twice gets the message on the third
// attempt, once.
func TestDispatcherRetriesEmail(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true, failMail: 2})
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, newEmail(t, emailConfig(s, TLSStartTLS)))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	if o := r.next(t); !o.Delivered() || o.Attempts != 3 {
		t.Fatalf("outcome %+v, want delivered in 3 attempts", o)
	}
	r0, msg := onlyMessage(t, s)
	checkMessage(t, r0, msg, testEvent())
	if _, mails := s.counts(); mails != 3 {
		t.Errorf("%d MAIL commands, want 3", mails)
	}
}

// A wrong password is not retried, and the outcome says why.
func TestDispatcherEmailWrongPassword(t *testing.T) {
	s := startSMTP(t, smtpServerOptions{startTLS: true})
	c := emailConfig(s, TLSStartTLS)
	c.Password = "not the password"
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, newEmail(t, c))
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	o := r.next(t)
	if o.Delivered() || o.Attempts != 1 || !IsPermanent(o.Err) {
		t.Fatalf("outcome %+v, want a permanent failure after 1 attempt", o)
	}
	if msg := o.Err.Error(); !strings.Contains(msg, "failed permanently after 1 attempt(s)") || !strings.Contains(msg, "535") {
		t.Errorf("error %q", msg)
	}
	if auths, _ := s.counts(); auths != 1 {
		t.Errorf("%d AUTH attempts, want 1", auths)
	}
}

// Waits double from the base up to the cap, each jittered into its upper
// half, and delivery stops after MaxAttempts.
func TestDispatcherBackoff(t *testing.T) {
	tmp := errors.New("temporary")
	f := &fakeTarget{name: "f", results: []error{tmp, tmp, tmp, tmp, tmp, tmp, tmp}}
	r := newRecorder()
	d := dispatcher(t, r, RetryPolicy{BaseDelay: time.Second, MaxDelay: 5 * time.Second, MaxAttempts: 6}, f)
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	o := r.next(t)
	if o.Delivered() || o.Attempts != 6 || !errors.Is(o.Err, tmp) || !strings.Contains(o.Err.Error(), "gave up after 6 attempt(s)") {
		t.Fatalf("outcome %+v", o)
	}
	caps := []time.Duration{1, 2, 4, 5, 5}
	w := r.waited()
	if len(w) != len(caps) {
		t.Fatalf("waits %v, want %d", w, len(caps))
	}
	for i, c := range caps {
		if c *= time.Second; w[i] < c/2 || w[i] > c {
			t.Errorf("wait %d is %v, want %v to %v", i+1, w[i], c/2, c)
		}
	}
	if n := len(f.events()); n != 6 {
		t.Errorf("%d attempts reached the target", n)
	}
}

// Jitter spreads the waits: they are not all the same.
func TestBackoffJitter(t *testing.T) {
	p, err := RetryPolicy{BaseDelay: time.Second}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[p.backoff(3)] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 waits took %d values", len(seen))
	}
}

// Send never waits: a full queue is an error at once, and the event is
// still queued for the targets that have room.
func TestDispatcherQueueFull(t *testing.T) {
	slow := &fakeTarget{name: "slow", gate: make(chan struct{}), started: make(chan string, 10)}
	fast := &fakeTarget{name: "fast"}
	r := newRecorder()
	d, err := New(Options{Targets: []Target{slow, fast}, QueueSize: 1, OnOutcome: r.outcome, Sleep: r.sleep})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id string) error { return d.Send(Event{ID: id, Kind: KindGrantIssued}) }
	if err := send("1"); err != nil {
		t.Fatal(err)
	}
	<-slow.started // slow's worker holds event 1; its queue is empty
	r.next(t)      // fast has delivered event 1
	if err := send("2"); err != nil {
		t.Fatal(err)
	}
	r.next(t) // and event 2: its queue is empty, slow's is full
	start := time.Now()
	err = send("3")
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "slow") || strings.Contains(err.Error(), "fast") {
		t.Fatalf("third Send: %v, want a full queue for slow only", err)
	}
	if time.Since(start) > time.Second {
		t.Error("Send waited")
	}
	close(slow.gate)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := func(es []Event) (s []string) {
		for _, e := range es {
			s = append(s, e.ID)
		}
		return s
	}
	if got := fmt.Sprint(ids(slow.events())); got != "[1 2]" {
		t.Errorf("slow got %s", got)
	}
	if got := fmt.Sprint(ids(fast.events())); got != "[1 2 3]" {
		t.Errorf("fast got %s", got)
	}
	if len(r.outcomes) != 5 {
		t.Errorf("%d outcomes, want 5", len(r.outcomes))
	}
}

// Close waits for the delivery under way and for the queued events.
func TestDispatcherCloseWaits(t *testing.T) {
	f := &fakeTarget{name: "f", gate: make(chan struct{}), started: make(chan string, 10)}
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, f)
	for _, id := range []string{"a", "b"} {
		if err := d.Send(Event{ID: id, Kind: KindGrantRevoked}); err != nil {
			t.Fatal(err)
		}
	}
	<-f.started
	closed := make(chan error, 1)
	go func() { closed <- d.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a delivery was under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := d.Send(testEvent()); !errors.Is(err, ErrClosed) {
		t.Errorf("Send while closing: %v, want ErrClosed", err)
	}
	close(f.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.outcomes) != 2 || !r.outcomes[0].Delivered() || !r.outcomes[1].Delivered() {
		t.Errorf("outcomes when Close returned: %+v", r.outcomes)
	}
}

// Past its deadline Close cancels the delivery under way, reports it and
// every queued event as not delivered, and says so.
func TestDispatcherCloseDeadline(t *testing.T) {
	f := &fakeTarget{name: "f", gate: make(chan struct{}), started: make(chan string, 10)}
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, f)
	for _, id := range []string{"a", "b"} {
		if err := d.Send(Event{ID: id, Kind: KindGrantRevoked}); err != nil {
			t.Fatal(err)
		}
	}
	<-f.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := d.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.outcomes) != 2 {
		t.Fatalf("outcomes %+v, want 2", r.outcomes)
	}
	a, b := r.outcomes[0], r.outcomes[1]
	if a.Event.ID != "a" || a.Delivered() || a.Attempts != 1 || !errors.Is(a.Err, ErrClosed) {
		t.Errorf("outcome of the cut delivery: %+v", a)
	}
	if b.Event.ID != "b" || b.Delivered() || b.Attempts != 0 || !errors.Is(b.Err, ErrClosed) {
		t.Errorf("outcome of the queued event: %+v", b)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Close also cuts short a wait between attempts.
func TestDispatcherCloseDuringBackoff(t *testing.T) {
	f := &fakeTarget{name: "f", results: []error{errors.New("down")}}
	var outcomes []Outcome
	var mu sync.Mutex
	d, err := New(Options{Targets: []Target{f}, Retry: RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Hour},
		OnOutcome: func(o Outcome) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	for len(f.events()) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outcomes) != 1 || outcomes[0].Attempts != 1 || !errors.Is(outcomes[0].Err, ErrClosed) || !strings.Contains(outcomes[0].Err.Error(), "down") {
		t.Errorf("outcomes %+v", outcomes)
	}
}

func TestDispatcherSendChecksEvents(t *testing.T) {
	f := &fakeTarget{name: "f"}
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, f)
	if err := d.Send(Event{Subject: "no kind"}); err == nil {
		t.Error("an event without a kind was queued")
	}
	if err := d.Send(Event{Kind: "k", Detail: map[string]any{"f": func() {}}}); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("an event with a function in its detail: %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.events()) != 0 {
		t.Error("a refused event was delivered")
	}
	if err := d.Send(testEvent()); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

// Send fills in ID and Time and copies Detail: the caller may change its
// map afterwards (the race detector watches this test).
func TestDispatcherSendCopiesEvent(t *testing.T) {
	f := &fakeTarget{name: "f", gate: make(chan struct{})}
	r := newRecorder()
	d, err := New(Options{Targets: []Target{f}, OnOutcome: r.outcome, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	detail := map[string]any{"n": 1 << 60, "list": []string{"a"}}
	if err := d.Send(Event{Kind: KindScanVerdictChanged, Detail: detail}); err != nil {
		t.Fatal(err)
	}
	detail["n"] = 2
	close(f.gate)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.events()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	e := got[0]
	if len(e.ID) != 24 || !e.Time.Equal(t0) {
		t.Errorf("ID %q, time %v", e.ID, e.Time)
	}
	if n, ok := e.Detail["n"].(json.Number); !ok || n.String() != "1152921504606846976" {
		t.Errorf("detail n = %#v, want the number sent, exactly", e.Detail["n"])
	}
}

// Each target gets its events in the order they were sent.
func TestDispatcherOrder(t *testing.T) {
	a, b := &fakeTarget{name: "a"}, &fakeTarget{name: "b", results: []error{errors.New("x"), errors.New("y")}}
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, a, b)
	for i := range 4 {
		if err := d.Send(Event{ID: fmt.Sprint(i), Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fakeTarget{a, b} {
		var ids []string
		for _, e := range f.events() {
			if len(ids) == 0 || ids[len(ids)-1] != e.ID {
				ids = append(ids, e.ID)
			}
		}
		if fmt.Sprint(ids) != "[0 1 2 3]" {
			t.Errorf("%s got %v", f.name, ids)
		}
	}
}

// Outcomes are logged, with the target and the attempts.
func TestDispatcherLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	f := &fakeTarget{name: "webhook-x", results: []error{permanent(errors.New("refused"))}}
	d, err := New(Options{Targets: []Target{f}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(Event{Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if rec["msg"] != "notification not delivered" || rec["target"] != "webhook-x" || rec["attempts"] != 1.0 || !strings.Contains(rec["err"].(string), "refused") {
		t.Errorf("log record %v", rec)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewChecksOptions(t *testing.T) {
	f := &fakeTarget{name: "f"}
	for _, o := range []Options{
		{Targets: []Target{f, &fakeTarget{name: "f"}}},
		{Targets: []Target{nil}},
		{QueueSize: -1},
		{AttemptTimeout: -time.Second},
		{Retry: RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second}},
		{Retry: RetryPolicy{MaxAttempts: -1}},
		{Retry: RetryPolicy{MaxAttempts: 1000}},
	} {
		if d, err := New(o); err == nil {
			_ = d.Close(context.Background())
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// Close with a context already done succeeds when nothing is left to do.
func TestDispatcherCloseIdle(t *testing.T) {
	r := newRecorder()
	d := dispatcher(t, r, fastRetry, &fakeTarget{name: "f"})
	if err := d.Send(testEvent()); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); err != nil {
		t.Errorf("Close of an idle dispatcher: %v", err)
	}
}
