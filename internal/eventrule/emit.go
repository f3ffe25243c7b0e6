package eventrule

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/store"
)

// Emitter records events and enqueues their deliveries.
type Emitter struct {
	// Source names this server in every envelope.
	Source string
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
	// Logger logs stored rules that are skipped; nil means slog.Default.
	Logger *slog.Logger
}

// Emit completes e (a new ID unless it has one, the version, the time by
// the server's clock unless it has one, the source), appends it to the event stream and
// enqueues a delivery for each target of each enabled rule it matches,
// all in tx: call it in the transaction of the change the event reports,
// so that the event and its deliveries are stored if and only if the
// change is. It returns the deliveries enqueued; after the transaction
// commits, wake the Deliverer. Emit fails only on an invalid event or a
// failing store: a stored rule that does not parse is logged and skipped.
func (em *Emitter) Emit(ctx context.Context, tx store.Tx, e *event.Envelope) ([]store.Delivery, error) {
	_, ds, err := em.EmitRecord(ctx, tx, e)
	return ds, err
}

// EmitRecord is Emit that also returns the event as appended to the event
// stream, with the ID the store gave it.
func (em *Emitter) EmitRecord(ctx context.Context, tx store.Tx, e *event.Envelope) (store.Event, []store.Delivery, error) {
	var rec store.Event
	now := time.Now
	if em.Now != nil {
		now = em.Now
	}
	if e.ID == "" {
		e.ID = event.NewID()
	}
	if e.Time.IsZero() {
		e.Time = now()
	}
	e.Version, e.Time, e.Source = event.Version, e.Time.UTC(), em.Source
	if err := e.Normalize(); err != nil {
		return store.Event{}, nil, err
	}
	if err := e.Validate(); err != nil {
		return store.Event{}, nil, err
	}
	raw, err := e.Marshal()
	if err != nil {
		return store.Event{}, nil, err
	}
	rec = store.Event{UID: e.ID, Time: e.Time, Kind: e.Kind, Source: e.Source, Vault: e.Vault, Subject: e.Subject, Actor: e.Actor, Data: e.Detail}
	if k, ok := event.Lookup(e.Kind); ok && k.Subject == event.SubjectPoint {
		rec.Point = e.Subject
	}
	if err := tx.AppendEvent(ctx, &rec); err != nil {
		return store.Event{}, nil, err
	}
	rules, errs, err := LoadRules(ctx, tx)
	if err != nil {
		return store.Event{}, nil, err
	}
	log := em.Logger
	if log == nil {
		log = slog.Default()
	}
	logRuleErrors(log, errs)
	router, err := NewRouter(rules)
	if err != nil {
		return store.Event{}, nil, err
	}
	due := router.Route(e)
	if len(due) == 0 {
		return rec, nil, nil
	}
	ds := make([]store.Delivery, 0, len(due))
	for _, d := range due {
		target, err := marshalTarget(d.Target)
		if err != nil {
			return store.Event{}, nil, err
		}
		ds = append(ds, store.Delivery{ID: d.ID, EventID: e.ID, Kind: e.Kind, Rule: d.Rule, Target: target,
			TargetName: d.Target.Name(), Envelope: raw, NextAt: e.Time, CreatedAt: e.Time})
	}
	if err := tx.EnqueueDeliveries(ctx, ds); err != nil {
		return store.Event{}, nil, err
	}
	return rec, ds, nil
}

// marshalTarget encodes a target for the outbox.
func marshalTarget(t Target) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t.Name(), err)
	}
	return b, nil
}
