package server

import (
	"context"
	"fmt"
	"strconv"

	"github.com/bunkerhq/bunker/internal/event"

	"github.com/bunkerhq/bunker/internal/store"
)

// Notifier delivers the server's approval, grant and verdict-change events to people: the team
// when a request awaits its votes, the requester when it is approved or
// rejected, an invitee when it is invited. Kinds and fields are those of
// the events in the event stream (GET /v1/events): kind is e.g.
// "approval.pending", and fields hold at least "request", "operation",
// "scope", "target", "requester", "team" and, for the team's attention,
// "notify" (the principals to tell), besides "event" (the event's id) and
// "vault" where one is concerned.
//
// The server calls Notify after the change the event records has
// committed, once per event. Notify must return quickly (queue the
// delivery) and must not assume it is called only once per event across
// restarts; an error is logged and changes nothing.
type Notifier interface {
	Notify(ctx context.Context, kind string, fields map[string]any) error
}

// outbox collects the events a request records, to hand to the notifier
// once its transaction has committed.
type outbox []store.Event

// emit records an event of kind about vault (empty if none) with the
// given detail fields in tx, and queues it for the notifier. See record.
func (s *Server) emit(ctx context.Context, tx store.Tx, box *outbox, kind, vault string, fields map[string]any) error {
	return s.record(ctx, tx, box, event.Envelope{Kind: kind, Vault: vault, Detail: fields})
}

// record is the one way the server records an event: it completes e (id,
// time by s.cfg.Now unless e has one, source s.cfg.Name; Subject, if empty, from the detail
// field the catalogue names for the kind), appends it to the event stream
// and enqueues the deliveries of the event rules it matches, all in tx, so
// that they are stored if and only if the change the event reports is.
// The event is also queued in box for the notifier, which deliver tells
// once tx has committed; box may be nil when no one is to be told.
func (s *Server) record(ctx context.Context, tx store.Tx, box *outbox, e event.Envelope) error {
	fields := e.Detail
	if e.Subject == "" {
		e.Subject = envelopeSubject(e.Kind, e.Vault, fields)
	}
	rec, _, err := s.events.EmitRecord(ctx, tx, &e)
	if err != nil {
		return fmt.Errorf("record event %s: %w", e.Kind, err)
	}
	if box != nil {
		// The notifier sees the fields as the caller gave them.
		rec.Data = fields
		*box = append(*box, rec)
	}
	return nil
}

// envelopeSubject finds what an event of kind is about in its detail fields, by
// the catalogue's subject for the kind.
func envelopeSubject(kind, vault string, fields map[string]any) string {
	k, ok := event.Lookup(kind)
	if !ok {
		return ""
	}
	key := k.Subject
	switch k.Subject {
	case event.SubjectVault:
		return vault
	case event.SubjectPoint:
		key = "point"
	}
	switch v := fields[key].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	}
	return ""
}

// deliver wakes the event deliverer and hands queued events to the
// notifier, if there is one, once a request's transaction has committed.
func (s *Server) deliver(ctx context.Context, box outbox) {
	if s.deliverer != nil {
		s.deliverer.Wake() // deliveries the request's events enqueued are due
	}
	if s.cfg.Notifier == nil {
		return
	}
	for _, e := range box {
		fields := make(map[string]any, len(e.Data)+2)
		for k, v := range e.Data {
			fields[k] = v
		}
		fields["event"] = e.ID
		if e.Vault != "" {
			fields["vault"] = e.Vault
		}
		if e.Point != "" {
			fields["point"] = e.Point
		}
		if err := s.cfg.Notifier.Notify(context.WithoutCancel(ctx), e.Kind, fields); err != nil {
			s.log.Error("notify", "event", e.ID, "kind", e.Kind, "err", err)
		}
	}
}
