package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event kinds that the bunker server notifies of (the kinds of its event
// stream, GET /v1/events).
const (
	KindApprovalRequested  = "approval.requested"   // a guarded operation was requested
	KindApprovalPending    = "approval.pending"     // the requester confirmed: the team's votes are wanted
	KindApprovalVote       = "approval.vote"        // a member voted
	KindApprovalApproved   = "approval.approved"    // a request has all the approvals it needs
	KindApprovalRejected   = "approval.rejected"    // a member rejected a request
	KindApprovalExpired    = "approval.expired"     // a request expired undecided
	KindApprovalCancelled  = "approval.cancelled"   // the requester withdrew a request
	KindApprovalExecuted   = "approval.executed"    // an approved operation was carried out
	KindGrantIssued        = "grant.issued"         // a restore-access grant opened
	KindGrantRevoked       = "grant.revoked"        // a grant was closed before its expiry
	KindGrantExpired       = "grant.expired"        // a grant closed at its expiry
	KindTeamInvited        = "team.invited"         // a principal was invited to an approval team
	KindTeamActive         = "team.active"          // a team has enough members to approve
	KindScanVerdictChanged = "scan.verdict_changed" // a point's verdict differs from its predecessor's
)

// Limits on what renderings of an event hold.
const (
	maxLineRunes   = 200 // Line as a whole
	maxFieldRunes  = 500 // one field or detail value in Text
	maxDetailBytes = 64 << 10
)

// Event is one notification. Every field but Kind is optional; Dispatcher.Send
// fills in ID and Time when they are empty.
type Event struct {
	// ID identifies the event. Every attempt and every target carries the
	// same ID, so receivers can drop duplicates of a retried delivery.
	ID string `json:"id"`
	// Kind is what happened, one of the Kind constants or another
	// dot-separated name.
	Kind string `json:"kind"`
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Source names the server that sent it, if set.
	Source string `json:"source,omitempty"`
	// Vault is the vault concerned, if any.
	Vault string `json:"vault,omitempty"`
	// Subject says in a few words what happened, for people.
	Subject string `json:"subject,omitempty"`
	// Actor is the principal who did it, if any.
	Actor string `json:"actor,omitempty"`
	// RequestID is the approval request concerned, if any.
	RequestID string `json:"request_id,omitempty"`
	// Detail holds further facts; its values must encode as JSON.
	Detail map[string]any `json:"detail,omitempty"`
	// DeliveryID, if set, identifies the delivery of the event to this
	// target, the same on every attempt and replay: a webhook sends it as
	// X-Bunker-Delivery-ID. It is not part of the event's encoding.
	DeliveryID string `json:"-"`
}

// Line renders e on one line of at most 200 characters, with no control
// characters and single spaces, for subjects and chat messages:
//
//	[bunker] approval.requested, vault prod: delete point 3fa9 (by ann)
func (e Event) Line() string {
	var b strings.Builder
	b.WriteString("[bunker] ")
	b.WriteString(oneLine(e.Kind))
	if e.Vault != "" {
		b.WriteString(", vault ")
		b.WriteString(oneLine(e.Vault))
	}
	if e.Subject != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Subject))
	}
	if e.Actor != "" {
		b.WriteString(" (by ")
		b.WriteString(oneLine(e.Actor))
		b.WriteString(")")
	}
	return clip(b.String(), maxLineRunes)
}

// Text renders e on several lines: Line, then one line for each field that
// is set and each detail, in order of their keys. No field can add a line
// of its own: control characters in values are replaced by spaces.
func (e Event) Text() string {
	var b strings.Builder
	b.WriteString(e.Line())
	b.WriteString("\n\n")
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-9s %s\n", name+":", clip(oneLine(value), maxFieldRunes))
		}
	}
	field("Event", e.Kind)
	if !e.Time.IsZero() {
		field("Time", e.Time.UTC().Format(time.RFC3339))
	}
	field("Vault", e.Vault)
	field("Subject", e.Subject)
	field("Actor", e.Actor)
	field("Request", e.RequestID)
	field("ID", e.ID)
	if len(e.Detail) > 0 {
		b.WriteString("\nDetails:\n")
		for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
			fmt.Fprintf(&b, "  %s: %s\n", clip(oneLine(k), maxFieldRunes), clip(oneLine(detailString(e.Detail[k])), maxFieldRunes))
		}
	}
	return b.String()
}

// detailString renders a detail value: strings as they are, anything else
// as JSON.
func detailString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(j)
}

// normalize checks e for Send and returns a copy whose Detail is its own
// (decoded from e.Detail's JSON, numbers kept exact), so that the caller's
// map can change afterwards without a race.
func (e Event) normalize() (Event, error) {
	if strings.TrimSpace(e.Kind) == "" {
		return Event{}, errors.New("event has no kind")
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
		return e, nil
	}
	j, err := json.Marshal(e.Detail)
	if err != nil {
		return Event{}, fmt.Errorf("event %s: detail does not encode as JSON: %w", clip(clean(e.Kind), 60), err)
	}
	if len(j) > maxDetailBytes {
		return Event{}, fmt.Errorf("event %s: detail is %d bytes of JSON, more than %d", clip(clean(e.Kind), 60), len(j), maxDetailBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var d map[string]any
	if err := dec.Decode(&d); err != nil {
		return Event{}, fmt.Errorf("event %s: detail: %w", clip(clean(e.Kind), 60), err)
	}
	e.Detail = d
	return e, nil
}

// oneLine is clean with runs of white space made one space and trimmed.
func oneLine(s string) string {
	return strings.Join(strings.Fields(clean(s)), " ")
}

// clean makes s safe to show on one line: invalid UTF-8 becomes U+FFFD,
// control characters (CR and LF among them), line and paragraph separators
// and bidirectional overrides become spaces.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
}

// clip shortens s to at most n runes, ending it with "…" when it cuts.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n - 1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}
