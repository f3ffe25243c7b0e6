package eventrule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/notify"
	"github.com/bunkerhq/bunker/internal/store"
)

// Defaults of DelivererOptions.
const (
	DefaultBaseDelay      = 5 * time.Second
	DefaultMaxDelay       = 15 * time.Minute
	DefaultMaxAttempts    = 12
	DefaultAttemptTimeout = MaxTargetTimeout
	DefaultLeaseMargin    = time.Minute
	DefaultConcurrency    = 4
	DefaultPoll           = 2 * time.Second
	DefaultKeepDelivered  = 7 * 24 * time.Hour
	maxAttempts           = 100
	settleTimeout         = 10 * time.Second
	purgeEvery            = time.Hour
)

// DelivererOptions configure a Deliverer.
type DelivererOptions struct {
	// Store holds the outbox.
	Store store.Store
	// Sender makes the attempts; a *Runner for bunker's targets.
	Sender Sender
	// Owner names this process in the leases it takes.
	Owner string
	// BaseDelay is the wait after the first failed attempt; the wait
	// doubles after each further one, up to MaxDelay, less a random part
	// of up to half of it. Zero means the defaults.
	BaseDelay, MaxDelay time.Duration
	// MaxAttempts is how many attempts a delivery gets before it becomes
	// a dead letter; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// AttemptTimeout bounds one attempt (0: MaxTargetTimeout, the longest
	// a target may ask for); Lease is how long a claim lasts, longer than
	// AttemptTimeout (0: AttemptTimeout and DefaultLeaseMargin). A
	// delivery whose claimer dies is claimed again once its lease ends.
	AttemptTimeout, Lease time.Duration
	// Concurrency is how many attempts run at once.
	Concurrency int
	// Poll is how often the outbox is looked at when Wake is not called.
	Poll time.Duration
	// KeepDelivered is how long delivered deliveries stay in the outbox.
	KeepDelivered time.Duration
	// Now is the clock; nil means time.Now. Jitter returns the random
	// part taken off a wait d, in [0, d/2]; nil means uniformly random.
	Now    func() time.Time
	Jitter func(d time.Duration) time.Duration
	// Logger logs outcomes; nil means slog.Default.
	Logger *slog.Logger
	// OnOutcome, if set, is called after every attempt, from the
	// attempt's goroutine.
	OnOutcome func(Outcome)
}

// Outcome is how one attempt ended.
type Outcome struct {
	Delivery store.Delivery // as claimed: Attempts is this attempt's number
	Err      error          // nil: delivered
	// Next is when the delivery is due again, if it is to be retried;
	// Dead is set if it became a dead letter.
	Next time.Time
	Dead bool
}

// Deliverer takes due deliveries from the outbox and attempts them.
type Deliverer struct {
	o    DelivererOptions
	log  *slog.Logger
	wake chan struct{}
}

// NewDeliverer checks opts and fills in their defaults.
func NewDeliverer(opts DelivererOptions) (*Deliverer, error) {
	o := opts
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	set(&o.BaseDelay, DefaultBaseDelay)
	set(&o.MaxDelay, max(DefaultMaxDelay, o.BaseDelay))
	set(&o.AttemptTimeout, DefaultAttemptTimeout)
	set(&o.Lease, o.AttemptTimeout+DefaultLeaseMargin)
	set(&o.Poll, DefaultPoll)
	set(&o.KeepDelivered, DefaultKeepDelivered)
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return rand.N(d/2 + 1) }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.Store == nil || o.Sender == nil:
		return nil, errors.New("deliverer: no store or no sender")
	case o.Owner == "":
		return nil, errors.New("deliverer: no owner name")
	case o.BaseDelay < 0 || o.MaxDelay < o.BaseDelay:
		return nil, fmt.Errorf("deliverer: delays %v to %v: want 0 < base ≤ max", o.BaseDelay, o.MaxDelay)
	case o.MaxAttempts < 1 || o.MaxAttempts > maxAttempts:
		return nil, fmt.Errorf("deliverer: %d attempts: want 1 to %d", o.MaxAttempts, maxAttempts)
	case o.AttemptTimeout < 0 || o.Lease <= o.AttemptTimeout:
		return nil, fmt.Errorf("deliverer: lease %v: want longer than the attempt timeout %v", o.Lease, o.AttemptTimeout)
	case o.Concurrency < 1 || o.Concurrency > 256:
		return nil, fmt.Errorf("deliverer: concurrency %d: want 1 to 256", o.Concurrency)
	case o.Poll < 0 || o.KeepDelivered < 0:
		return nil, errors.New("deliverer: negative poll interval or retention")
	}
	return &Deliverer{o: o, log: o.Logger, wake: make(chan struct{}, 1)}, nil
}

// Wake makes Run look at the outbox now: call it after a transaction that
// enqueued deliveries commits.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then returns once the attempts under
// way have ended (they are cut short, and released for another claim).
func (d *Deliverer) Run(ctx context.Context) error {
	var lastPurge time.Time
	for ctx.Err() == nil {
		n, err := d.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("event deliveries", "err", err)
		}
		if now := d.o.Now(); now.Sub(lastPurge) >= purgeEvery {
			lastPurge = now
			d.purge(ctx, now)
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(d.o.Poll)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// purge deletes deliveries delivered longer ago than KeepDelivered.
func (d *Deliverer) purge(ctx context.Context, now time.Time) {
	err := d.o.Store.Update(ctx, func(tx store.Tx) error {
		n, err := tx.PurgeDeliveries(ctx, now.Add(-d.o.KeepDelivered))
		if n > 0 {
			d.log.Info("event deliveries purged", "count", n)
		}
		return err
	})
	if err != nil && ctx.Err() == nil {
		d.log.Error("purge event deliveries", "err", err)
	}
}

// RunOnce claims up to Concurrency due deliveries, attempts them at once,
// and returns how many it claimed once every attempt has ended.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	now := d.o.Now()
	var claimed []store.Delivery
	err := d.o.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimDeliveries(ctx, store.Claim{Owner: d.o.Owner, Now: now, Until: now.Add(d.o.Lease), Limit: d.o.Concurrency})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim event deliveries: %w", err)
	}
	var wg sync.WaitGroup
	for _, c := range claimed {
		wg.Go(func() { d.attempt(ctx, c) })
	}
	wg.Wait()
	return len(claimed), nil
}

// attempt makes one attempt at a claimed delivery and settles it.
func (d *Deliverer) attempt(ctx context.Context, c store.Delivery) {
	var err error
	if c.Attempts > d.o.MaxAttempts {
		// Claimed more often than attempted: claims whose holders died.
		err = permanent(fmt.Errorf("claimed %d times without finishing an attempt", c.Attempts-1))
	} else {
		err = d.send(ctx, c)
	}
	out := Outcome{Delivery: c, Err: err}
	settle := context.WithoutCancel(ctx)
	settle, cancel := context.WithTimeout(settle, settleTimeout)
	defer cancel()
	now := d.o.Now()
	var serr error
	switch {
	case err == nil:
		serr = d.settle(settle, func(tx store.Tx) error { return tx.MarkDelivered(settle, c.ID, now) })
	case ctx.Err() != nil:
		// Stopping: release the claim for the next process.
		out.Next = now
		serr = d.settle(settle, func(tx store.Tx) error {
			return tx.RescheduleDelivery(settle, c.ID, c.Attempts, now, "interrupted: "+err.Error())
		})
	case notify.IsPermanent(err) || c.Attempts >= d.o.MaxAttempts:
		out.Dead = true
		reason := err.Error()
		if !notify.IsPermanent(err) {
			reason = fmt.Sprintf("gave up after %d attempts: %s", c.Attempts, reason)
		}
		serr = d.settle(settle, func(tx store.Tx) error { return tx.DeadLetterDelivery(settle, c.ID, c.Attempts, now, reason) })
	default:
		out.Next = now.Add(d.backoff(c.Attempts, err))
		serr = d.settle(settle, func(tx store.Tx) error {
			return tx.RescheduleDelivery(settle, c.ID, c.Attempts, out.Next, err.Error())
		})
	}
	d.logOutcome(out, serr)
	if d.o.OnOutcome != nil {
		d.o.OnOutcome(out)
	}
}

// send decodes a claimed delivery and makes the attempt.
func (d *Deliverer) send(ctx context.Context, c store.Delivery) error {
	t, err := parseTarget(c.Target, "target")
	if err == nil {
		err = t.Validate()
	}
	if err != nil {
		return permanent(fmt.Errorf("the outbox holds an invalid target: %w", err))
	}
	e, err := event.Parse(c.Envelope)
	if err != nil {
		return permanent(fmt.Errorf("the outbox holds an invalid event: %w", err))
	}
	actx, cancel := context.WithTimeout(ctx, d.o.AttemptTimeout)
	defer cancel()
	return d.o.Sender.Send(actx, Attempt{DeliveryID: c.ID, Number: c.Attempts, Rule: c.Rule, Target: t, Event: e, Raw: c.Envelope})
}

// settle records an attempt's end.
func (d *Deliverer) settle(ctx context.Context, fn func(store.Tx) error) error {
	return d.o.Store.Update(ctx, fn)
}

// backoff is the wait after failed attempt n (from 1) that ended in err.
func (d *Deliverer) backoff(n int, err error) time.Duration {
	w := d.o.BaseDelay
	for i := 1; i < n && w < d.o.MaxDelay; i++ {
		w *= 2
	}
	w = min(w, d.o.MaxDelay)
	w -= min(max(d.o.Jitter(w), 0), w/2)
	var de *notify.DeliveryError
	if errors.As(err, &de) && de.RetryAfter > w {
		w = min(de.RetryAfter, d.o.MaxDelay)
	}
	return w
}

func (d *Deliverer) logOutcome(o Outcome, settleErr error) {
	c := o.Delivery
	attrs := []any{"delivery", c.ID, "event", c.EventID, "kind", c.Kind, "rule", c.Rule, "target", c.TargetName, "attempt", c.Attempts}
	switch {
	case settleErr != nil:
		d.log.Warn("event delivery: could not record the attempt (its lease may have lapsed)", append(attrs, "outcome", o.Err, "err", settleErr)...)
	case o.Err == nil:
		d.log.Info("event delivered", attrs...)
	case o.Dead:
		d.log.Error("event delivery failed: dead letter", append(attrs, "err", o.Err)...)
	default:
		d.log.Warn("event delivery failed: will retry", append(attrs, "err", o.Err, "next", o.Next)...)
	}
}
