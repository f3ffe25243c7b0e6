package store

import (
	"context"
	"encoding/json"
	"time"
)

// DeliveryState is where a delivery of an event to a target is.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "pending"   // due, waiting for a retry, or being attempted
	DeliveryDelivered DeliveryState = "delivered" // reached its target
	DeliveryDead      DeliveryState = "dead"      // a dead letter: given up on, until replayed
)

// Delivery is one event due to one target of one rule, in the outbox.
type Delivery struct {
	// Seq orders deliveries by when they were enqueued; set by
	// EnqueueDeliveries.
	Seq int64 `json:"seq"`
	// ID identifies the delivery: the same on every attempt and replay, so
	// that a receiver can drop duplicates.
	ID      string `json:"id"`
	EventID string `json:"event_id"`
	Kind    string `json:"kind"` // the event's kind
	Rule    string `json:"rule"`
	// Target is the rule's target, as package eventrule encodes it, at the
	// time the event was routed; TargetName names it with no secret. A
	// webhook's URL may be a credential, so Target is left out of the
	// JSON encoding.
	Target     json.RawMessage `json:"-"`
	TargetName string          `json:"target_name"`
	// Envelope is the event, as package event encodes it.
	Envelope json.RawMessage `json:"envelope"`
	State    DeliveryState   `json:"state"`
	// Attempts counts the claims made since it was enqueued or last
	// replayed, the one under way included.
	Attempts int `json:"attempts"`
	// NextAt is when it is due.
	NextAt time.Time `json:"next_at"`
	// LeaseOwner claimed it, until LeaseUntil; past that anyone may claim
	// it again.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// DoneAt is when it was delivered or became a dead letter.
	DoneAt time.Time `json:"done_at,omitzero"`
	// Replays counts how often it was replayed from the dead letters.
	Replays int `json:"replays,omitempty"`
}

// Claim asks for due deliveries: at most Limit pending ones whose NextAt
// and lease have passed at Now, oldest first, leased to Owner until Until.
type Claim struct {
	Owner string
	Now   time.Time
	Until time.Time
	Limit int
}

// DeliveryFilter selects deliveries: those in State (any if empty), of
// Rule (any if empty), with Seq below Before (any if 0), at most Limit
// (100 if 0).
type DeliveryFilter struct {
	State  DeliveryState
	Rule   string
	Before int64
	Limit  int
}

// Outbox is the durable queue of event deliveries. Deliveries are
// enqueued in the transaction of the change their event reports, claimed
// with a lease, and each claim counts an attempt; a claim whose holder dies
// lapses when its lease ends, so every delivery is attempted until it is
// delivered or becomes a dead letter. The methods that settle an attempt
// take its number, and fail with ErrNotFound once another claim has
// superseded it.
type Outbox interface {
	// EnqueueDeliveries adds pending deliveries, setting their Seq; one
	// whose ID is already queued is left as it is.
	EnqueueDeliveries(ctx context.Context, ds []Delivery) error
	// ClaimDeliveries leases due deliveries and counts an attempt on each.
	ClaimDeliveries(ctx context.Context, c Claim) ([]Delivery, error)
	// MarkDelivered records that a delivery reached its target, even if
	// its lease lapsed or it became a dead letter meanwhile; marking one
	// twice does nothing.
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	// RescheduleDelivery releases attempt number attempt of a delivery
	// and makes it due again at next.
	RescheduleDelivery(ctx context.Context, id string, attempt int, next time.Time, lastErr string) error
	// DeadLetterDelivery gives up on a delivery after attempt number
	// attempt.
	DeadLetterDelivery(ctx context.Context, id string, attempt int, at time.Time, reason string) error
	// Delivery returns one delivery.
	Delivery(ctx context.Context, id string) (*Delivery, error)
	// Deliveries returns the deliveries f selects, newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// DeadLetters returns up to limit dead letters with Seq above after,
	// oldest first.
	DeadLetters(ctx context.Context, after int64, limit int) ([]Delivery, error)
	// ReplayDeadLetter makes a dead letter pending again, due at now,
	// with its attempts counted afresh.
	ReplayDeadLetter(ctx context.Context, id string, now time.Time) error
	// ReplayDeadLetters replays every dead letter and returns how many.
	ReplayDeadLetters(ctx context.Context, now time.Time) (int, error)
	// PurgeDeliveries deletes deliveries delivered before the time given
	// and returns how many.
	PurgeDeliveries(ctx context.Context, before time.Time) (int, error)
}

// EventRule is a stored event rule.
type EventRule struct {
	Name string `json:"name"`
	// Spec is the rule as package eventrule encodes it.
	Spec      json.RawMessage `json:"spec"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
	UpdatedAt time.Time       `json:"updated_at"`
	UpdatedBy string          `json:"updated_by"`
}

// EventRules stores the rules that route events to targets.
type EventRules interface {
	CreateEventRule(ctx context.Context, r *EventRule) error
	EventRule(ctx context.Context, name string) (*EventRule, error)
	EventRules(ctx context.Context) ([]EventRule, error) // by name
	UpdateEventRule(ctx context.Context, r *EventRule) error
	DeleteEventRule(ctx context.Context, name string) error
}
