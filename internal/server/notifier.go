package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/bunkerhq/bunker/internal/notify"
)

// DispatchNotifier is a Notifier that hands the server's events to a
// notify.Dispatcher, which delivers them by email and webhook with retries.
type DispatchNotifier struct {
	D *notify.Dispatcher
}

// Notify queues the event for every target; it fails only when a target's
// queue is full or the dispatcher closed.
func (n DispatchNotifier) Notify(_ context.Context, kind string, fields map[string]any) error {
	ev := notify.Event{
		ID:        fieldString(fields, "event"),
		Kind:      kind,
		Vault:     fieldString(fields, "vault"),
		Subject:   subjectOf(kind, fields),
		Actor:     firstField(fields, "by", "requester", "principal"),
		RequestID: fieldString(fields, "request"),
		Detail:    fields,
	}
	if ev.ID != "" {
		ev.ID = "event-" + ev.ID
	}
	return n.D.Send(ev)
}

// fieldString renders one field for the event's header lines; "" when
// absent.
func fieldString(fields map[string]any, key string) string {
	v, ok := fields[key]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func firstField(fields map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := fieldString(fields, k); s != "" {
			return s
		}
	}
	return ""
}

// subjectOf says in a few words what an event is about.
func subjectOf(kind string, f map[string]any) string {
	switch {
	case strings.HasPrefix(kind, "approval."):
		s := fieldString(f, "operation")
		if t := fieldString(f, "target"); t != "" {
			s += " " + t
		}
		if st := fieldString(f, "state"); st != "" {
			s += " (" + st + ")"
		}
		return s
	case strings.HasPrefix(kind, "grant."):
		s := "restore access for " + fieldString(f, "principal")
		if e := fieldString(f, "expires_at"); e != "" && kind == "grant.issued" {
			s += " until " + e
		}
		return s
	case strings.HasPrefix(kind, "team."):
		s := "team " + fieldString(f, "team")
		if m := fieldString(f, "member"); m != "" {
			s += ": " + m
		}
		return s
	case kind == EventVerdictChanged:
		return fmt.Sprintf("point %s of %s: %s, was %s", shortID(fieldString(f, "point")), fieldString(f, "hostname"), fieldString(f, "to"), fieldString(f, "from"))
	}
	return ""
}

// shortID is the first 8 characters of an id.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
