package api

import (
	"encoding/json"
	"time"

	"github.com/bunkerhq/bunker/internal/store"
)

// EventRule is a stored event rule: PUT, GET /v1/event-rules/{name}.
type EventRule struct {
	Name string `json:"name"`
	// Rule is the rule as docs/EVENTS.md describes it and PUT takes it:
	// name, description, enabled, pattern and targets.
	Rule json.RawMessage `json:"rule"`
	// Targets names each target with no secret, in the rule's order.
	Targets   []string  `json:"targets"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// EventRuleList is GET /v1/event-rules: every rule, by name.
type EventRuleList struct {
	Rules []EventRule `json:"rules"`
}

// DeliveryList is GET /v1/deliveries: deliveries of events to the rules'
// targets, newest first. A delivery names its target without the
// target's URL or secret.
type DeliveryList struct {
	Deliveries []store.Delivery `json:"deliveries"`
}
