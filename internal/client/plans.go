package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/plan"
)

// ApplyOptions adjust ApplyPlans.
type ApplyOptions struct {
	DryRun bool // answer the changes and make none
	Prune  bool // also delete the server's plans the file does not name
}

// ApplyPlans sends a plan file (YAML) and returns what applying it changed,
// or would change. A refused file is an *Error with PlanErrors.
func (c *Client) ApplyPlans(ctx context.Context, file []byte, opts ApplyOptions) ([]plan.PlanChange, error) {
	q := url.Values{}
	if opts.DryRun {
		q.Set("dry_run", "1")
	}
	if opts.Prune {
		q.Set("prune", "1")
	}
	resp, err := c.request(ctx, http.MethodPut, "/v1/plans", q, "application/yaml", file)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []plan.PlanChange
	if err := c.decode(resp, &out); err != nil {
		return nil, fmt.Errorf("PUT /v1/plans: %w", err)
	}
	return out, nil
}

// Plans lists the plans of the vaults the caller may read, by name.
func (c *Client) Plans(ctx context.Context) ([]api.Plan, error) {
	var out api.PlanList
	return out.Plans, c.do(ctx, http.MethodGet, "/v1/plans", nil, nil, &out)
}

// Plan returns one plan.
func (c *Client) Plan(ctx context.Context, name string) (api.Plan, error) {
	var out api.Plan
	return out, c.do(ctx, http.MethodGet, "/v1/plans/"+seg(name), nil, nil, &out)
}

// DeletePlan deletes a plan.
func (c *Client) DeletePlan(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/plans/"+seg(name), nil, nil, nil)
}
