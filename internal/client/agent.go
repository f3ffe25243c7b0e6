package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bunkerhq/bunker/internal/api"
)

// AgentPlans returns the plans with sources on host, each with only that
// host's sources, of the vaults the caller may run plans of.
func (c *Client) AgentPlans(ctx context.Context, host string) (api.AgentPlans, error) {
	var out api.AgentPlans
	return out, c.do(ctx, http.MethodGet, "/v1/agent/plans", url.Values{"host": {host}}, nil, &out)
}

// ClaimJob claims and starts the oldest queued run on host. It returns
// nil, and no error, when no run is waiting.
func (c *Client) ClaimJob(ctx context.Context, host string) (*api.AgentJob, error) {
	body, err := json.Marshal(api.ClaimRequest{Host: host})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	const path = "/v1/agent/jobs/claim"
	resp, err := c.request(ctx, http.MethodPost, path, nil, "application/json", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	}
	var out api.AgentJob
	if err := c.decode(resp, &out); err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return &out, nil
}

// JobProgress reports how far claimed run id has come.
func (c *Client) JobProgress(ctx context.Context, id int64, p api.ProgressRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/jobs/"+strconv.FormatInt(id, 10)+"/progress", nil, p, nil)
}

// FinishJob reports how claimed run id ended.
func (c *Client) FinishJob(ctx context.Context, id int64, f api.FinishRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/jobs/"+strconv.FormatInt(id, 10)+"/finish", nil, f, nil)
}
