package server

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
)

// OpenAPI is the API's OpenAPI 3 document, served at /v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

// routes builds the API's handler. Each route names the audit action its
// refusals are recorded under.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern, action string, authenticated bool, h handlerFunc) {
		mux.Handle(s.route(pattern, action, authenticated, h))
	}
	// Public.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	add("GET /v1/server", "", false, s.handleServerInfo)
	add("POST /v1/login", "auth.login", false, s.handleLogin)

	// The caller.
	add("GET /v1/whoami", "", true, s.handleWhoami)
	add("POST /v1/logout", "auth.logout", true, s.handleLogout)
	add("POST /v1/me/password", "principal.password", true, s.handlePasswordChange)
	add("POST /v1/me/totp", "principal.totp", true, s.handleTOTP)

	// Principals, tokens, roles.
	add("GET /v1/principals", "principal.list", true, s.handlePrincipalList)
	add("POST /v1/principals", "principal.create", true, s.handlePrincipalCreate)
	add("PATCH /v1/principals/{name}", "principal.update", true, s.handlePrincipalUpdate)
	add("GET /v1/tokens", "token.list", true, s.handleTokenList)
	add("POST /v1/tokens", "token.create", true, s.handleTokenCreate)
	add("DELETE /v1/tokens/{id}", "token.revoke", true, s.handleTokenRevoke)
	add("GET /v1/roles", "", true, s.handleRoles)
	add("GET /v1/roles/constraints", "", true, s.handleConstraints)
	add("GET /v1/bindings", "role.list", true, s.handleBindingList)
	add("POST /v1/bindings", "role.bind", true, s.handleBindingCreate)
	add("DELETE /v1/bindings/{id}", "role.unbind", true, s.handleBindingDelete)

	// Vaults and their policies.
	add("GET /v1/vaults", "vault.list", true, s.handleVaultList)
	add("POST /v1/vaults", "vault.create", true, s.handleVaultCreate)
	add("GET /v1/vaults/{vault}", "vault.show", true, s.handleVaultShow)
	add("PATCH /v1/vaults/{vault}", "vault.update", true, s.handleVaultUpdate)
	add("DELETE /v1/vaults/{vault}", "vault.delete", true, s.handleVaultDelete)
	add("PUT /v1/vaults/{vault}/lock", "vault.lock", true, s.handleLockSet)
	add("DELETE /v1/vaults/{vault}/lock", "vault.unlock", true, s.handleLockRemove)
	add("POST /v1/vaults/{vault}/maintenance", "vault.maintain", true, s.handleMaintain)
	add("POST /v1/vaults/{vault}/verify", "vault.verify", true, s.handleVerify)
	add("GET /v1/jobs", "job.list", true, s.handleJobs)
	add("GET /v1/jobs/{id}", "job.show", true, s.handleJobShow)

	// Backup plans.
	add("PUT /v1/plans", "plan.apply", true, s.handlePlansApply)
	add("GET /v1/plans", "plan.list", true, s.handlePlanList)
	add("GET /v1/plans/{name}", "plan.show", true, s.handlePlanShow)
	add("DELETE /v1/plans/{name}", "plan.delete", true, s.handlePlanDelete)
	add("GET /v1/events", "event.read", true, s.handleEvents)

	// Agents.
	add("GET /v1/agent/plans", "agent.plans", true, s.handleAgentPlans)
	add("POST /v1/agent/jobs/claim", "agent.claim", true, s.handleAgentClaim)
	add("POST /v1/agent/jobs/{id}/progress", "agent.progress", true, s.handleAgentProgress)
	add("POST /v1/agent/jobs/{id}/finish", "agent.finish", true, s.handleAgentFinish)

	// Points, holds, the bin.
	add("GET /v1/vaults/{vault}/points", "point.list", true, s.handlePointList)
	add("GET /v1/vaults/{vault}/points/{point}", "point.show", true, s.handlePointShow)
	add("DELETE /v1/vaults/{vault}/points/{point}", "point.delete", true, s.handlePointDelete)
	add("POST /v1/vaults/{vault}/points/{point}/undelete", "point.undelete", true, s.handlePointUndelete)
	add("PUT /v1/vaults/{vault}/points/{point}/retention", "point.retain", true, s.handlePointRetention)
	add("POST /v1/vaults/{vault}/points/{point}/scan", "point.scan", true, s.handleScan)
	add("POST /v1/vaults/{vault}/points/{point}/copy", "point.copy", true, s.handlePointCopy)
	add("GET /v1/vaults/{vault}/holds", "hold.list", true, s.handleHoldList)
	add("POST /v1/vaults/{vault}/holds", "hold.create", true, s.handleHoldCreate)
	add("DELETE /v1/vaults/{vault}/holds/{id}", "hold.release", true, s.handleHoldRelease)

	// Backup sessions.
	add("POST /v1/vaults/{vault}/sessions", "backup.start", true, s.handleSessionCreate)
	add("POST /v1/sessions/{session}/missing", "backup.query", true, s.handleMissing)
	add("POST /v1/sessions/{session}/blobs", "backup.upload", true, s.handleUpload)
	add("GET /v1/sessions/{session}/trees/{tree}", "backup.parent", true, s.handleParentTree)
	add("POST /v1/sessions/{session}/commit", "point.create", true, s.handleCommit)
	add("DELETE /v1/sessions/{session}", "backup.end", true, func(c *call) error { return s.handleSessionEnd(c, false) })

	// Restore sessions.
	add("POST /v1/vaults/{vault}/points/{point}/restore", "point.restore", true, s.handleRestoreStart)
	add("POST /v1/restores/{session}/blobs", "restore.read", true, s.handleRestoreRead)
	add("DELETE /v1/restores/{session}", "restore.end", true, func(c *call) error { return s.handleSessionEnd(c, true) })

	// Multi-party approval: teams, who guards what, requests, grants.
	add("POST /v1/teams", "team.create", true, s.handleTeamCreate)
	add("GET /v1/teams", "team.list", true, s.handleTeamList)
	add("GET /v1/teams/{team}", "team.show", true, s.handleTeamShow)
	add("POST /v1/teams/{team}/changes", "team.change", true, s.handleTeamChange)
	add("POST /v1/teams/{team}/accept", "team.accept", true, s.handleTeamAccept)
	add("GET /v1/approval-settings", "server.approval", true, s.handleApprovalSettingsShow)
	add("PUT /v1/approval-settings", "server.approval", true, s.handleApprovalSettingsSet)
	add("GET /v1/vaults/{vault}/approval", "vault.approval", true, s.handleApprovalSettingsShow)
	add("PUT /v1/vaults/{vault}/approval", "vault.approval", true, s.handleApprovalSettingsSet)
	add("GET /v1/approvals", "approval.list", true, s.handleApprovalList)
	add("GET /v1/approvals/{id}", "approval.show", true, s.handleApprovalShow)
	add("POST /v1/approvals/{id}/confirm", "approval.confirm", true, s.handleApprovalConfirm)
	add("POST /v1/approvals/{id}/approve", "approval.approve", true, func(c *call) error { return s.handleApprovalVote(c, approval.Approve) })
	add("POST /v1/approvals/{id}/reject", "approval.reject", true, func(c *call) error { return s.handleApprovalVote(c, approval.Reject) })
	add("POST /v1/approvals/{id}/cancel", "approval.cancel", true, s.handleApprovalCancel)
	add("POST /v1/vaults/{vault}/access", "access.request", true, s.handleAccessRequest)
	add("GET /v1/access", "access.list", true, s.handleGrantList)
	add("DELETE /v1/access/{id}", "grant.revoke", true, s.handleGrantRevoke)

	// Remote servers points are pulled from.
	add("PUT /v1/remotes/{name}", "remote.put", true, s.handleRemotePut)
	add("GET /v1/remotes", "remote.list", true, s.handleRemoteList)
	add("DELETE /v1/remotes/{name}", "remote.delete", true, s.handleRemoteDelete)
	add("POST /v1/remotes/{name}/pull", "remote.pull", true, s.handleRemotePull)
	add("POST /v1/remotes/{name}/sync", "remote.sync", true, s.handleRemoteSync)
	add("POST /v1/remotes/{name}/events", "remote.event", false, s.handleRemoteEvents)
	add("GET /v1/posture", "posture.read", true, s.handlePosture)

	// Event rules and their deliveries.
	add("PUT /v1/event-rules/{name}", "rule.put", true, s.handleRulePut)
	add("GET /v1/event-rules", "rule.list", true, s.handleRuleList)
	add("GET /v1/event-rules/{name}", "rule.show", true, s.handleRuleShow)
	add("DELETE /v1/event-rules/{name}", "rule.delete", true, s.handleRuleDelete)
	add("GET /v1/deliveries", "delivery.list", true, s.handleDeliveryList)
	add("POST /v1/deliveries/{id}/replay", "delivery.replay", true, s.handleDeliveryReplay)

	// Push targets.
	add("PUT /v1/push-targets/{name}", "push_target.put", true, s.handlePushTargetPut)
	add("GET /v1/push-targets", "push_target.list", true, s.handlePushTargetList)
	add("DELETE /v1/push-targets/{name}", "push_target.delete", true, s.handlePushTargetDelete)
	add("POST /v1/vaults/{vault}/points/{point}/push", "point.push", true, s.handlePointPush)

	// The audit log.
	add("GET /v1/audit", "audit.read", true, s.handleAuditList)
	add("GET /v1/audit/export", "audit.export", true, s.handleAuditExport)
	add("DELETE /v1/audit", "audit.delete", true, s.handleAuditDelete)

	// Anything else: a clear 404, and an audit entry when it came with
	// credentials (someone probing the API).
	add("/", "request.unknown", false, s.handleUnknown)
	return mux
}

// grantRoute reports whether a restore-access grant's token may call the
// route: list and show the vault and its points, and restore from it.
func grantRoute(pattern string) bool {
	switch pattern {
	case "GET /v1/whoami", "GET /v1/vaults", "GET /v1/vaults/{vault}", "GET /v1/vaults/{vault}/points",
		"GET /v1/vaults/{vault}/points/{point}", "POST /v1/vaults/{vault}/points/{point}/restore",
		"POST /v1/restores/{session}/blobs", "DELETE /v1/restores/{session}":
		return true
	}
	return false
}

func (s *Server) handleServerInfo(c *call) error {
	return c.ok(http.StatusOK, api.ServerInfo{Version: Version, KeyID: s.keyID, PublicKey: s.PublicKey(), Time: s.cfg.Now().UTC(), Started: s.started.UTC()})
}

// handleUnknown answers requests that match no route.
func (s *Server) handleUnknown(c *call) error {
	if c.r.Header.Get("Authorization") != "" {
		if id, err := s.authenticate(c); err == nil {
			c.id = id
		}
		c.target = clip(c.r.URL.Path)
		c.auditAlone(audit.OutcomeDenied, map[string]any{"method": c.r.Method, "path": clip(c.r.URL.Path), "status": http.StatusNotFound})
	}
	return notFound("no such API endpoint: %s %s (the API is described at /v1/openapi.yaml)", c.r.Method, clip(c.r.URL.Path))
}
