package server

import (
	"context"

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

// emit records an event in tx and queues it for the notifier.
func (s *Server) emit(ctx context.Context, tx store.Tx, box *outbox, kind, vault string, fields map[string]any) error {
	e := store.Event{Time: s.cfg.Now().UTC(), Kind: kind, Vault: vault, Data: fields}
	if err := tx.AppendEvent(ctx, &e); err != nil {
		return err
	}
	*box = append(*box, e)
	return nil
}

// deliver hands queued events to the notifier, if there is one.
func (s *Server) deliver(ctx context.Context, box outbox) {
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
