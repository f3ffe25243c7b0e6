package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultQueueSize      = 256
	DefaultAttemptTimeout = time.Minute
)

// Errors of Dispatcher.Send.
var (
	ErrQueueFull = errors.New("notify: queue full")
	ErrClosed    = errors.New("notify: dispatcher closed")
)

// Outcome is how the delivery of one event to one target ended.
type Outcome struct {
	Event  Event
	Target string // the target's Name
	// Attempts is how many attempts were made: 0 if the dispatcher closed
	// before the first.
	Attempts int
	// Err is nil if the event was delivered, else why it was not, after
	// the last attempt.
	Err error
	// Elapsed is the time from the first attempt to the outcome.
	Elapsed time.Duration
}

// Delivered reports whether the event reached the target.
func (o Outcome) Delivered() bool { return o.Err == nil }

// Options configure a Dispatcher.
type Options struct {
	// Targets receive every event.
	Targets []Target
	// QueueSize bounds the events waiting for each target; 0 means
	// DefaultQueueSize. Send fails rather than wait when a queue is full.
	QueueSize int
	// Retry says how failed attempts are repeated.
	Retry RetryPolicy
	// AttemptTimeout bounds each attempt; 0 means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// OnOutcome, if set, is called once for every event and target that
	// Send queued, from the dispatcher's goroutines (for different
	// targets at once): it should return quickly.
	OnOutcome func(Outcome)
	// Logger logs retries and outcomes; nil means no logging.
	Logger *slog.Logger
	// Now is the clock, and Sleep waits for d or until ctx is done,
	// whichever is first; nil means the real ones. Tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Dispatcher delivers events to targets in the background. Each target
// has its own queue and worker, so that events reach a target in the order
// they were sent and a slow or failing target does not hold up the others.
type Dispatcher struct {
	opts    Options
	retry   RetryPolicy
	log     *slog.Logger
	workers []*worker
	ctx     context.Context // cancelled when Close gives up waiting
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex // guards closed and sends on the queues
	closed  bool
	pending atomic.Int64 // events queued or being delivered
}

// worker delivers the events queued for one target, one at a time.
type worker struct {
	target Target
	queue  chan Event
}

// New starts a dispatcher for opts.Targets. Stop it with Close.
func New(opts Options) (*Dispatcher, error) {
	retry, err := opts.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	switch {
	case opts.QueueSize < 0:
		return nil, fmt.Errorf("notify: negative queue size %d", opts.QueueSize)
	case opts.QueueSize == 0:
		opts.QueueSize = DefaultQueueSize
	}
	switch {
	case opts.AttemptTimeout < 0:
		return nil, fmt.Errorf("notify: negative attempt timeout %v", opts.AttemptTimeout)
	case opts.AttemptTimeout == 0:
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{opts: opts, retry: retry, log: log}
	seen := map[string]bool{}
	for i, t := range opts.Targets {
		if t == nil {
			return nil, fmt.Errorf("notify: target %d is nil", i)
		}
		if seen[t.Name()] {
			return nil, fmt.Errorf("notify: target %s is given twice", t.Name())
		}
		seen[t.Name()] = true
		d.workers = append(d.workers, &worker{target: t, queue: make(chan Event, opts.QueueSize)})
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, w := range d.workers {
		d.wg.Go(func() { d.run(w) })
	}
	return d, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send queues e for every target and returns at once. It fills in e.ID
// and e.Time if they are empty, and copies e.Detail. If a target's queue is
// full, e is dropped for that target (and queued for the others) and Send
// returns an error wrapping ErrQueueFull that names it; after Close it
// returns ErrClosed. An event without a Kind, or whose Detail does not
// encode as JSON, is refused.
func (d *Dispatcher) Send(e Event) error {
	e, err := e.normalize()
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if e.ID == "" {
		if e.ID, err = newID(); err != nil {
			return err
		}
	}
	if e.Time.IsZero() {
		e.Time = d.opts.Now().UTC()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	var full []string
	for _, w := range d.workers {
		select {
		case w.queue <- e:
			d.pending.Add(1)
		default:
			full = append(full, w.target.Name())
		}
	}
	if len(full) > 0 {
		d.log.Warn("notification dropped: queue full", "event", e.ID, "kind", e.Kind, "targets", full)
		return fmt.Errorf("%w: event %s not queued for %s", ErrQueueFull, clip(clean(e.ID), 60), strings.Join(full, ", "))
	}
	return nil
}

// newID returns a random event ID.
func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("notify: event id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Close stops taking events and waits until every queued event has been
// delivered or has failed, or until ctx is done: then it cancels the
// deliveries under way, reports each event still queued as not delivered,
// and returns ctx's error once the workers have stopped. Close may be
// called more than once.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, w := range d.workers {
			close(w.queue)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		if d.pending.Load() == 0 { // nothing left to cut short
			<-done
			d.cancel()
			return nil
		}
		d.cancel()
		<-done
		return fmt.Errorf("notify: closing: deliveries cut short: %w", context.Cause(ctx))
	}
}

// run delivers w's events until its queue is closed and empty.
func (d *Dispatcher) run(w *worker) {
	for e := range w.queue {
		o := d.deliver(w.target, e)
		// Settled before it is reported: whoever learns of the outcome
		// finds nothing pending for it (Close counts on that).
		d.pending.Add(-1)
		d.report(o)
	}
}

// deliver tries to deliver e to t until it succeeds, fails for good, runs
// out of attempts or the dispatcher is cancelled.
func (d *Dispatcher) deliver(t Target, e Event) Outcome {
	o := Outcome{Event: e, Target: t.Name()}
	start := d.opts.Now()
	for {
		if err := d.ctx.Err(); err != nil {
			o.Err = fmt.Errorf("%w before delivery, after %d attempt(s)", ErrClosed, o.Attempts)
			break
		}
		o.Attempts++
		err := d.attempt(t, e)
		if err == nil {
			break
		}
		wait, giveUp := d.retry.next(o.Attempts, err)
		if giveUp != "" {
			o.Err = fmt.Errorf("%s after %d attempt(s): %w", giveUp, o.Attempts, err)
			break
		}
		if d.ctx.Err() != nil {
			o.Err = fmt.Errorf("%w after %d attempt(s): %w", ErrClosed, o.Attempts, err)
			break
		}
		d.log.Warn("notification attempt failed; retrying", "target", o.Target, "event", e.ID, "kind", e.Kind,
			"attempt", o.Attempts, "retry_in", wait, "err", err)
		if d.opts.Sleep(d.ctx, wait) != nil {
			o.Err = fmt.Errorf("%w while waiting to retry, after %d attempt(s): %w", ErrClosed, o.Attempts, err)
			break
		}
	}
	o.Elapsed = d.opts.Now().Sub(start)
	return o
}

// attempt makes one attempt within the attempt timeout.
func (d *Dispatcher) attempt(t Target, e Event) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.AttemptTimeout)
	defer cancel()
	return t.Deliver(ctx, e)
}

// report logs an outcome and passes it to the callback.
func (d *Dispatcher) report(o Outcome) {
	if o.Err == nil {
		d.log.Info("notification delivered", "target", o.Target, "event", o.Event.ID, "kind", o.Event.Kind, "attempts", o.Attempts)
	} else {
		d.log.Error("notification not delivered", "target", o.Target, "event", o.Event.ID, "kind", o.Event.Kind,
			"attempts", o.Attempts, "err", o.Err)
	}
	if d.opts.OnOutcome != nil {
		d.opts.OnOutcome(o)
	}
}
