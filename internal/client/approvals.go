package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/store"
)

// CreateTeam makes an approval team and invites its first members.
func (c *Client) CreateTeam(ctx context.Context, req api.TeamRequest) (api.Team, error) {
	var out api.Team
	return out, c.do(ctx, http.MethodPost, "/v1/teams", nil, req, &out)
}

// Teams lists the approval teams.
func (c *Client) Teams(ctx context.Context) ([]api.Team, error) {
	var out struct {
		Teams []api.Team `json:"teams"`
	}
	return out.Teams, c.do(ctx, http.MethodGet, "/v1/teams", nil, nil, &out)
}

// Team shows one approval team.
func (c *Client) Team(ctx context.Context, name string) (api.Team, error) {
	var out api.Team
	return out, c.do(ctx, http.MethodGet, "/v1/teams/"+seg(name), nil, nil, &out)
}

// ChangeTeam invites or removes members or sets the threshold; of an
// active team it returns a *Pending error.
func (c *Client) ChangeTeam(ctx context.Context, name string, req api.TeamChange) (api.Team, error) {
	var out api.Team
	return out, c.do(ctx, http.MethodPost, "/v1/teams/"+seg(name)+"/changes", nil, req, &out)
}

// AcceptTeam joins a team the caller was invited to, with its public key.
func (c *Client) AcceptTeam(ctx context.Context, name, publicKey string) (api.Team, error) {
	var out api.Team
	return out, c.do(ctx, http.MethodPost, "/v1/teams/"+seg(name)+"/accept", nil, api.TeamAccept{PublicKey: publicKey}, &out)
}

func approvalPath(vault string) string {
	if vault == "" {
		return "/v1/approval-settings"
	}
	return "/v1/vaults/" + seg(vault) + "/approval"
}

// ApprovalSettings shows who approves a vault's guarded operations, or
// with vault "" the server's.
func (c *Client) ApprovalSettings(ctx context.Context, vault string) (api.ApprovalSettings, error) {
	var out api.ApprovalSettings
	return out, c.do(ctx, http.MethodGet, approvalPath(vault), nil, nil, &out)
}

// SetApprovalSettings sets who approves a vault's guarded operations, or
// with vault "" the server's. With a team "" nobody does then; the answer
// is then the zero settings.
func (c *Client) SetApprovalSettings(ctx context.Context, vault string, req api.ApprovalSettingsRequest) (api.ApprovalSettings, error) {
	var out api.ApprovalSettings
	if req.Team == "" {
		return out, c.do(ctx, http.MethodPut, approvalPath(vault), nil, req, nil)
	}
	return out, c.do(ctx, http.MethodPut, approvalPath(vault), nil, req, &out)
}

// ApprovalFilter selects approval requests to list.
type ApprovalFilter struct {
	State     string
	Team      string
	Requester string
	Vault     string
}

// Approvals lists the approval requests the caller may see, newest first.
func (c *Client) Approvals(ctx context.Context, f ApprovalFilter) ([]api.Approval, error) {
	var out struct {
		Approvals []api.Approval `json:"approvals"`
	}
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "team": f.Team, "requester": f.Requester, "vault": f.Vault} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return out.Approvals, c.do(ctx, http.MethodGet, "/v1/approvals", q, nil, &out)
}

// Approval shows one request (an id, or 8 or more of its first digits).
func (c *Client) Approval(ctx context.Context, id string) (api.Approval, error) {
	var out api.Approval
	return out, c.do(ctx, http.MethodGet, "/v1/approvals/"+seg(id), nil, nil, &out)
}

// ConfirmApproval confirms a request with its hash: the requester's intent,
// or, once approved, the final confirmation that executes it.
func (c *Client) ConfirmApproval(ctx context.Context, id, hash string) (api.Approval, error) {
	var out api.Approval
	return out, c.do(ctx, http.MethodPost, "/v1/approvals/"+seg(id)+"/confirm", nil, api.ConfirmRequest{Hash: hash}, &out)
}

// Vote casts a signed vote ("approve" or "reject") on a request.
func (c *Client) Vote(ctx context.Context, id, vote string, req api.VoteRequest) (api.Approval, error) {
	var out api.Approval
	return out, c.do(ctx, http.MethodPost, "/v1/approvals/"+seg(id)+"/"+seg(vote), nil, req, &out)
}

// CancelApproval withdraws the caller's request.
func (c *Client) CancelApproval(ctx context.Context, id string) (api.Approval, error) {
	var out api.Approval
	return out, c.do(ctx, http.MethodPost, "/v1/approvals/"+seg(id)+"/cancel", nil, map[string]string{}, &out)
}

// RequestAccess asks for restore access to an air-gapped vault: the
// answer is always the approval request it became.
func (c *Client) RequestAccess(ctx context.Context, vault string, req api.AccessRequest) (api.Pending, error) {
	err := c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/access", nil, req, nil)
	if p, ok := AsPending(err); ok {
		return p.Pending, nil
	}
	if err == nil {
		return api.Pending{}, &Error{Status: http.StatusOK, Code: "http", Message: "the server granted access without an approval request"}
	}
	return api.Pending{}, err
}

// Grants lists restore-access grants: the caller's, or (security-admin,
// auditor) a principal's or all.
func (c *Client) Grants(ctx context.Context, principal string) ([]store.Grant, error) {
	var out struct {
		Grants []store.Grant `json:"grants"`
	}
	var q url.Values
	if principal != "" {
		q = url.Values{"principal": {principal}}
	}
	return out.Grants, c.do(ctx, http.MethodGet, "/v1/access", q, nil, &out)
}

// RevokeGrant ends a grant.
func (c *Client) RevokeGrant(ctx context.Context, id string) (store.Grant, error) {
	var out store.Grant
	return out, c.do(ctx, http.MethodDelete, "/v1/access/"+seg(id), nil, nil, &out)
}
