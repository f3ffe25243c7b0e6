package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
	"github.com/bunkerhq/bunker/internal/wire"
)

// Server returns the server's version, clock and signing key.
func (c *Client) Server(ctx context.Context) (api.ServerInfo, error) {
	var out api.ServerInfo
	return out, c.do(ctx, http.MethodGet, "/v1/server", nil, nil, &out)
}

// Login exchanges a user's password (and TOTP code) for a session token.
func (c *Client) Login(ctx context.Context, req api.LoginRequest) (api.NewToken, error) {
	var out api.NewToken
	return out, c.do(ctx, http.MethodPost, "/v1/login", nil, req, &out)
}

// Logout revokes the token in use.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/logout", nil, map[string]string{}, nil)
}

// Whoami describes the caller.
func (c *Client) Whoami(ctx context.Context) (api.Whoami, error) {
	var out api.Whoami
	return out, c.do(ctx, http.MethodGet, "/v1/whoami", nil, nil, &out)
}

// ChangePassword changes the caller's password.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.do(ctx, http.MethodPost, "/v1/me/password", nil, api.PasswordChange{Current: current, New: next}, nil)
}

// TOTP starts (code empty) or confirms the caller's TOTP enrolment.
func (c *Client) TOTP(ctx context.Context, code string) (api.TOTPEnrollment, error) {
	var out api.TOTPEnrollment
	return out, c.do(ctx, http.MethodPost, "/v1/me/totp", nil, api.TOTPRequest{Code: code}, &out)
}

// CreatePrincipal makes a user or service account.
func (c *Client) CreatePrincipal(ctx context.Context, req api.PrincipalRequest) (api.Principal, error) {
	var out api.Principal
	return out, c.do(ctx, http.MethodPost, "/v1/principals", nil, req, &out)
}

// Principals lists every principal with its bindings.
func (c *Client) Principals(ctx context.Context) ([]api.Principal, error) {
	var out struct {
		Principals []api.Principal `json:"principals"`
	}
	return out.Principals, c.do(ctx, http.MethodGet, "/v1/principals", nil, nil, &out)
}

// UpdatePrincipal disables, enables or resets another principal.
func (c *Client) UpdatePrincipal(ctx context.Context, name string, req api.PrincipalUpdate) (api.Principal, error) {
	var out api.Principal
	return out, c.do(ctx, http.MethodPatch, "/v1/principals/"+seg(name), nil, req, &out)
}

// CreateToken makes an API token.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.NewToken, error) {
	var out api.NewToken
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", nil, req, &out)
}

// Tokens lists tokens: the caller's, or (security-admin) a principal's or all.
func (c *Client) Tokens(ctx context.Context, principal string) ([]store.Token, error) {
	var out struct {
		Tokens []store.Token `json:"tokens"`
	}
	var q url.Values
	if principal != "" {
		q = url.Values{"principal": {principal}}
	}
	return out.Tokens, c.do(ctx, http.MethodGet, "/v1/tokens", q, nil, &out)
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+seg(id), nil, nil, nil)
}

// Roles lists the roles and their permissions.
func (c *Client) Roles(ctx context.Context) ([]api.Role, error) {
	var out struct {
		Roles []api.Role `json:"roles"`
	}
	return out.Roles, c.do(ctx, http.MethodGet, "/v1/roles", nil, nil, &out)
}

// Constraints lists the separation-of-duties constraints.
func (c *Client) Constraints(ctx context.Context) ([]rbac.Constraint, error) {
	var out struct {
		Constraints []rbac.Constraint `json:"constraints"`
	}
	return out.Constraints, c.do(ctx, http.MethodGet, "/v1/roles/constraints", nil, nil, &out)
}

// Bind gives a principal a role.
func (c *Client) Bind(ctx context.Context, req api.BindingRequest) (store.Binding, error) {
	var out store.Binding
	return out, c.do(ctx, http.MethodPost, "/v1/bindings", nil, req, &out)
}

// Bindings lists role bindings, of one principal or all.
func (c *Client) Bindings(ctx context.Context, principal string) ([]store.Binding, error) {
	var out struct {
		Bindings []store.Binding `json:"bindings"`
	}
	var q url.Values
	if principal != "" {
		q = url.Values{"principal": {principal}}
	}
	return out.Bindings, c.do(ctx, http.MethodGet, "/v1/bindings", q, nil, &out)
}

// Unbind removes a role binding.
func (c *Client) Unbind(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/v1/bindings/%d", id), nil, nil, nil)
}

// CreateVault makes a vault.
func (c *Client) CreateVault(ctx context.Context, req api.VaultRequest) (api.Vault, error) {
	var out api.Vault
	return out, c.do(ctx, http.MethodPost, "/v1/vaults", nil, req, &out)
}

// Vaults lists the vaults the caller may see.
func (c *Client) Vaults(ctx context.Context) ([]api.Vault, error) {
	var out struct {
		Vaults []api.Vault `json:"vaults"`
	}
	return out.Vaults, c.do(ctx, http.MethodGet, "/v1/vaults", nil, nil, &out)
}

// Vault shows one vault.
func (c *Client) Vault(ctx context.Context, name string) (api.Vault, error) {
	var out api.Vault
	return out, c.do(ctx, http.MethodGet, "/v1/vaults/"+seg(name), nil, nil, &out)
}

// UpdateVault changes a vault's retention settings.
func (c *Client) UpdateVault(ctx context.Context, name string, req api.VaultUpdate) (api.Vault, error) {
	var out api.Vault
	return out, c.do(ctx, http.MethodPatch, "/v1/vaults/"+seg(name), nil, req, &out)
}

// DeleteVault deletes an empty vault.
func (c *Client) DeleteVault(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/vaults/"+seg(name), nil, nil, nil)
}

// Lock sets a vault's lock.
func (c *Client) Lock(ctx context.Context, name string, req api.LockRequest) (api.Vault, error) {
	var out api.Vault
	return out, c.do(ctx, http.MethodPut, "/v1/vaults/"+seg(name)+"/lock", nil, req, &out)
}

// Unlock removes a vault's lock before its lock date.
func (c *Client) Unlock(ctx context.Context, name string) (api.Vault, error) {
	var out api.Vault
	return out, c.do(ctx, http.MethodDelete, "/v1/vaults/"+seg(name)+"/lock", nil, nil, &out)
}

// Maintain runs a maintenance pass over a vault now.
func (c *Client) Maintain(ctx context.Context, name string) (api.MaintenanceReport, error) {
	var out api.MaintenanceReport
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(name)+"/maintenance", nil, map[string]string{}, &out)
}

// Jobs lists recent jobs.
func (c *Client) Jobs(ctx context.Context) ([]store.Job, error) {
	var out struct {
		Jobs []store.Job `json:"jobs"`
	}
	return out.Jobs, c.do(ctx, http.MethodGet, "/v1/jobs", nil, nil, &out)
}

// PointFilter selects points to list.
type PointFilter struct {
	State string // active (default), binned or all
	Host  string
	Path  string // points whose paths include this one
	Tag   string
}

// Points lists a vault's points, oldest first.
func (c *Client) Points(ctx context.Context, vault string, f PointFilter) ([]api.Point, error) {
	l, err := c.PointList(ctx, vault, f)
	return l.Points, err
}

// PointList lists a vault's points, oldest first, with the first infected
// and the last clean of them.
func (c *Client) PointList(ctx context.Context, vault string, f PointFilter) (api.PointList, error) {
	var out api.PointList
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "host": f.Host, "path": f.Path, "tag": f.Tag} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return out, c.do(ctx, http.MethodGet, "/v1/vaults/"+seg(vault)+"/points", q, nil, &out)
}

// Point shows one point ("latest" or an id prefix).
func (c *Client) Point(ctx context.Context, vault, ref string) (api.Point, error) {
	var out api.Point
	return out, c.do(ctx, http.MethodGet, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref), nil, nil, &out)
}

// DeletePoint moves a point to the recycle bin.
func (c *Client) DeletePoint(ctx context.Context, vault, ref string) (api.Point, error) {
	var out api.Point
	return out, c.do(ctx, http.MethodDelete, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref), nil, nil, &out)
}

// Undelete brings a point back from the recycle bin.
func (c *Client) Undelete(ctx context.Context, vault, ref string) (api.Point, error) {
	var out api.Point
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/undelete", nil, map[string]string{}, &out)
}

// Retain changes a point's expiry.
func (c *Client) Retain(ctx context.Context, vault, ref string, req api.RetentionRequest) (api.Point, error) {
	var out api.Point
	return out, c.do(ctx, http.MethodPut, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/retention", nil, req, &out)
}

// Hold places a legal hold.
func (c *Client) Hold(ctx context.Context, vault string, req api.HoldRequest) (store.Hold, error) {
	var out store.Hold
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/holds", nil, req, &out)
}

// Holds lists a vault's legal holds.
func (c *Client) Holds(ctx context.Context, vault string, released bool) ([]store.Hold, error) {
	var out struct {
		Holds []store.Hold `json:"holds"`
	}
	var q url.Values
	if released {
		q = url.Values{"released": {"true"}}
	}
	return out.Holds, c.do(ctx, http.MethodGet, "/v1/vaults/"+seg(vault)+"/holds", q, nil, &out)
}

// Release releases a legal hold.
func (c *Client) Release(ctx context.Context, vault string, id int64) (store.Hold, error) {
	var out store.Hold
	return out, c.do(ctx, http.MethodDelete, fmt.Sprintf("/v1/vaults/%s/holds/%d", seg(vault), id), nil, nil, &out)
}

// StartBackup opens a backup session.
func (c *Client) StartBackup(ctx context.Context, vault string, req api.SessionRequest) (api.SessionResponse, error) {
	var out api.SessionResponse
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/sessions", nil, req, &out)
}

// Missing returns which of hs the vault lacks.
func (c *Client) Missing(ctx context.Context, session string, hs []blob.Handle) ([]blob.Handle, error) {
	data, err := c.raw(ctx, http.MethodPost, "/v1/sessions/"+seg(session)+"/missing", wire.HandlesType, wire.AppendHandles(nil, hs), int64(len(hs)*wire.HandleSize))
	if err != nil {
		return nil, err
	}
	return wire.DecodeHandles(data, len(hs))
}

// Upload sends a body of blob frames.
func (c *Client) Upload(ctx context.Context, session string, frames []byte) (api.UploadResult, error) {
	var out api.UploadResult
	resp, err := c.request(ctx, http.MethodPost, "/v1/sessions/"+seg(session)+"/blobs", nil, wire.FramesType, frames)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, c.decode(resp, &out)
}

// ParentTree reads a listing of the session's parent point.
func (c *Client) ParentTree(ctx context.Context, session string, id blob.ID) ([]byte, error) {
	return c.raw(ctx, http.MethodGet, "/v1/sessions/"+seg(session)+"/trees/"+id.String(), "", nil, 64<<20)
}

// Commit records the session's point.
func (c *Client) Commit(ctx context.Context, session string, req api.CommitRequest) (api.Point, error) {
	var out api.Point
	return out, c.do(ctx, http.MethodPost, "/v1/sessions/"+seg(session)+"/commit", nil, req, &out)
}

// EndBackup abandons a backup session.
func (c *Client) EndBackup(ctx context.Context, session string) error {
	return c.do(ctx, http.MethodDelete, "/v1/sessions/"+seg(session), nil, nil, nil)
}

// StartRestore opens a restore session on a point.
func (c *Client) StartRestore(ctx context.Context, vault, ref string) (api.RestoreResponse, error) {
	return c.StartRestoreWith(ctx, vault, ref, api.RestoreRequest{})
}

// StartRestoreWith opens a restore session on a point with options
// (allow_infected).
func (c *Client) StartRestoreWith(ctx context.Context, vault, ref string, req api.RestoreRequest) (api.RestoreResponse, error) {
	var out api.RestoreResponse
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/restore", nil, req, &out)
}

// Scan scans a point for ransomware against the previous point of its
// source and records the verdict.
func (c *Client) Scan(ctx context.Context, vault, ref string, req api.ScanRequest) (api.ScanReport, error) {
	var out api.ScanReport
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/scan", nil, req, &out)
}

// Events returns events after an id, oldest first.
func (c *Client) Events(ctx context.Context, after int64, limit int) (api.EventPage, error) {
	var out api.EventPage
	q := url.Values{"after": {fmt.Sprint(after)}}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return out, c.do(ctx, http.MethodGet, "/v1/events", q, nil, &out)
}

// ReadBlobs reads blobs of a restore session's point as frames; the server
// may send fewer than asked when they are large.
func (c *Client) ReadBlobs(ctx context.Context, session string, hs []blob.Handle) ([]byte, error) {
	return c.raw(ctx, http.MethodPost, "/v1/restores/"+seg(session)+"/blobs", wire.HandlesType, wire.AppendHandles(nil, hs), 128<<20)
}

// EndRestore closes a restore session.
func (c *Client) EndRestore(ctx context.Context, session string) error {
	return c.do(ctx, http.MethodDelete, "/v1/restores/"+seg(session), nil, nil, nil)
}

// Audit reads one page of the audit log after seq.
func (c *Client) Audit(ctx context.Context, after uint64, limit int) (api.AuditPage, error) {
	var out api.AuditPage
	q := url.Values{"after": {fmt.Sprint(after)}, "limit": {fmt.Sprint(limit)}}
	return out, c.do(ctx, http.MethodGet, "/v1/audit", q, nil, &out)
}

// AuditExport streams the whole audit log with its checkpoints as JSON
// lines (the format audit.ReadJSONL reads), after the server has signed a
// checkpoint of the newest entry. The caller reads and closes the body.
func (c *Client) AuditExport(ctx context.Context) (io.ReadCloser, error) {
	return c.Stream(ctx, "/v1/audit/export", nil)
}

// Verify verifies a vault's data and point signatures now, incrementally
// unless req.Full.
func (c *Client) Verify(ctx context.Context, vault string, req api.VerifyRequest) (api.VerifyReport, error) {
	var out api.VerifyReport
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/verify", nil, req, &out)
}

// CopyPoint copies point ref of vault into vault to of the same server.
func (c *Client) CopyPoint(ctx context.Context, vault, ref, to string) (api.CopyReport, error) {
	var out api.CopyReport
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/copy", nil, api.CopyRequest{ToVault: to}, &out)
}

// PutRemote registers or replaces remote name.
func (c *Client) PutRemote(ctx context.Context, name string, req api.RemoteRequest) (api.Remote, error) {
	var out api.Remote
	return out, c.do(ctx, http.MethodPut, "/v1/remotes/"+seg(name), nil, req, &out)
}

// Remotes lists the registered remotes.
func (c *Client) Remotes(ctx context.Context) ([]api.Remote, error) {
	var out struct {
		Remotes []api.Remote `json:"remotes"`
	}
	return out.Remotes, c.do(ctx, http.MethodGet, "/v1/remotes", nil, nil, &out)
}

// DeleteRemote forgets remote name.
func (c *Client) DeleteRemote(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/remotes/"+seg(name), nil, nil, nil)
}

// Pull copies one point of a remote into a vault of the server.
func (c *Client) Pull(ctx context.Context, name string, req api.PullRequest) (api.CopyReport, error) {
	var out api.CopyReport
	return out, c.do(ctx, http.MethodPost, "/v1/remotes/"+seg(name)+"/pull", nil, req, &out)
}

// SyncRemote pulls every point of the remote's followed vaults not copied
// yet.
func (c *Client) SyncRemote(ctx context.Context, name string) (api.SyncReport, error) {
	var out api.SyncReport
	return out, c.do(ctx, http.MethodPost, "/v1/remotes/"+seg(name)+"/sync", nil, map[string]string{}, &out)
}

// Posture reports each source's copies and their 3-2-1-1 standing.
func (c *Client) Posture(ctx context.Context) (api.Posture, error) {
	var out api.Posture
	return out, c.do(ctx, http.MethodGet, "/v1/posture", nil, nil, &out)
}

// PutPushTarget registers or replaces push target name.
func (c *Client) PutPushTarget(ctx context.Context, name string, req api.PushTargetRequest) (api.PushTarget, error) {
	var out api.PushTarget
	return out, c.do(ctx, http.MethodPut, "/v1/push-targets/"+seg(name), nil, req, &out)
}

// PushTargets lists the registered push targets.
func (c *Client) PushTargets(ctx context.Context) ([]api.PushTarget, error) {
	var out struct {
		PushTargets []api.PushTarget `json:"push_targets"`
	}
	return out.PushTargets, c.do(ctx, http.MethodGet, "/v1/push-targets", nil, nil, &out)
}

// DeletePushTarget forgets push target name.
func (c *Client) DeletePushTarget(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/push-targets/"+seg(name), nil, nil, nil)
}

// PushPoint pushes point ref of vault to push target target.
func (c *Client) PushPoint(ctx context.Context, vault, ref, target string) (api.PushReport, error) {
	var out api.PushReport
	return out, c.do(ctx, http.MethodPost, "/v1/vaults/"+seg(vault)+"/points/"+seg(ref)+"/push", nil, api.PushRequest{Target: target}, &out)
}
