package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/store"
)

// PutEventRule creates or replaces event rule name; rule is its JSON, as
// docs/EVENTS.md describes it, naming the same rule.
func (c *Client) PutEventRule(ctx context.Context, name string, rule json.RawMessage) (api.EventRule, error) {
	var out api.EventRule
	return out, c.do(ctx, http.MethodPut, "/v1/event-rules/"+seg(name), nil, rule, &out)
}

// EventRules lists the event rules, by name.
func (c *Client) EventRules(ctx context.Context) ([]api.EventRule, error) {
	var out api.EventRuleList
	return out.Rules, c.do(ctx, http.MethodGet, "/v1/event-rules", nil, nil, &out)
}

// EventRule returns one event rule.
func (c *Client) EventRule(ctx context.Context, name string) (api.EventRule, error) {
	var out api.EventRule
	return out, c.do(ctx, http.MethodGet, "/v1/event-rules/"+seg(name), nil, nil, &out)
}

// DeleteEventRule removes event rule name. Deliveries it queued stay.
func (c *Client) DeleteEventRule(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/event-rules/"+seg(name), nil, nil, nil)
}

// DeliveryFilter selects deliveries; zero fields select all, and Limit 0
// is the server's default (100).
type DeliveryFilter struct {
	State  store.DeliveryState
	Rule   string
	Before int64 // the Seq of the last delivery of the previous page
	Limit  int
}

// Deliveries lists the deliveries of events to the rules' targets, newest
// first.
func (c *Client) Deliveries(ctx context.Context, f DeliveryFilter) ([]store.Delivery, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Rule != "" {
		q.Set("rule", f.Rule)
	}
	if f.Before > 0 {
		q.Set("before", strconv.FormatInt(f.Before, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out api.DeliveryList
	return out.Deliveries, c.do(ctx, http.MethodGet, "/v1/deliveries", q, nil, &out)
}

// ReplayDelivery makes dead letter id due again, with its attempts
// counted afresh, and returns it as it is now.
func (c *Client) ReplayDelivery(ctx context.Context, id string) (store.Delivery, error) {
	var out store.Delivery
	return out, c.do(ctx, http.MethodPost, "/v1/deliveries/"+seg(id)+"/replay", nil, map[string]string{}, &out)
}
