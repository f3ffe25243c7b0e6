package server

import (
	"errors"
	"net/http"
	"slices"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

func teamView(t *approval.Team) api.Team {
	v := api.Team{Team: *t, Status: t.Status(), Active: t.ActiveCount()}
	if v.Members == nil {
		v.Members = []approval.Member{}
	}
	return v
}

// checkApprover refuses to invite a principal that does not hold the
// approver role.
func (s *Server) checkApprover(c *call, tx store.Tx, name string) error {
	if _, err := s.loadPrincipal(c, tx, name); err != nil {
		return err
	}
	bs, err := tx.Bindings(c.ctx, name)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Role == rbac.Approver {
			return nil
		}
	}
	return conflict("%s does not hold the approver role: bind it first (`bunker role bind %s approver`)", name, name)
}

func (s *Server) handleTeamCreate(c *call) error {
	var req api.TeamRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkVaultName(req.Name); err != nil {
		return badRequest("invalid team name %q: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", clip(req.Name))
	}
	c.target = "team/" + req.Name
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	reject, err := approval.ParseRejectPolicy(req.Reject)
	if err != nil {
		return badRequest("%v", err)
	}
	t := &approval.Team{Name: req.Name, Threshold: req.Threshold, Reject: reject, CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
	if err := t.Validate(); err != nil {
		return badRequest("%v", err)
	}
	var view api.Team
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := tx.CreateTeam(c.ctx, t); err != nil {
			if errors.Is(err, store.ErrExists) {
				return conflict("team %s already exists", req.Name)
			}
			return err
		}
		if err := c.auditTeam(tx, approval.ActionTeamCreate, approval.TeamEvent{Team: t.Name, Threshold: t.Threshold, Reject: t.Reject}); err != nil {
			return err
		}
		if len(req.Invite) > 0 {
			if err := s.applyTeamChange(c, tx, t, approval.Change{Invite: req.Invite}, ""); err != nil {
				return err
			}
		}
		view = teamView(t)
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusCreated, view)
}

// auditTeam appends a team entry, in the form approval.Verify reads.
func (c *call) auditTeam(tx store.Tx, action string, ev approval.TeamEvent) error {
	d, err := asDetail(ev)
	if err != nil {
		return err
	}
	return c.auditAs(tx, action, "team/"+ev.Team, d)
}

// applyTeamChange checks and applies a change, one audited step at a
// time, naming the request that approved it (if any).
func (s *Server) applyTeamChange(c *call, tx store.Tx, t *approval.Team, ch approval.Change, request string) error {
	if err := t.CheckChange(ch); err != nil {
		return conflict("%v", err)
	}
	for _, p := range ch.Invite {
		if err := s.checkApprover(c, tx, p); err != nil {
			return err
		}
	}
	now := s.cfg.Now().UTC()
	for _, step := range ch.Steps(t) {
		t.Apply(step, c.id.name(), now)
		ev := approval.TeamEvent{Team: t.Name, Request: request}
		action := approval.ActionTeamThreshold
		switch {
		case len(step.Invite) == 1:
			action, ev.Member = approval.ActionTeamInvite, step.Invite[0]
		case len(step.Remove) == 1:
			action, ev.Member = approval.ActionTeamRemove, step.Remove[0]
		default:
			ev.Threshold = step.Threshold
		}
		if err := c.auditTeam(tx, action, ev); err != nil {
			return err
		}
		if action == approval.ActionTeamInvite {
			if err := s.emit(c.ctx, tx, &c.box, "team.invited", "", map[string]any{"team": t.Name, "member": ev.Member, "notify": []string{ev.Member}}); err != nil {
				return err
			}
		}
	}
	return tx.UpdateTeam(c.ctx, t)
}

func (s *Server) handleTeamList(c *call) error {
	out := []api.Team{}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		ts, err := tx.Teams(c.ctx)
		for i := range ts {
			out = append(out, teamView(&ts[i]))
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"teams": out})
}

func (s *Server) handleTeamShow(c *call) error {
	c.target = "team/" + clip(c.r.PathValue("team"))
	var view api.Team
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		t, err := s.loadTeam(c, tx, c.r.PathValue("team"))
		if err == nil {
			view = teamView(t)
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// handleTeamChange invites or removes members or sets the threshold:
// directly while the team is forming, with the team's own approval once
// it is active.
func (s *Server) handleTeamChange(c *call) error {
	name := c.r.PathValue("team")
	c.target = "team/" + clip(name)
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.TeamChange
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	ch := approval.Change{Invite: req.Invite, Remove: req.Remove, Threshold: req.Threshold}
	g := &gate{}
	var view api.Team
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		view, err = s.changeTeam(c, tx, name, ch, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	return c.ok(http.StatusOK, view)
}

// changeTeam changes a team in tx (see handleTeamChange).
func (s *Server) changeTeam(c *call, tx store.Tx, name string, ch approval.Change, g *gate) (api.Team, error) {
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return api.Team{}, err
	}
	c.target = "team/" + name
	t, err := s.loadTeam(c, tx, name)
	if err != nil {
		return api.Team{}, err
	}
	if err := t.CheckChange(ch); err != nil {
		return api.Team{}, conflict("%v", err)
	}
	request := ""
	if g.approved != nil {
		request = g.approved.Request.ID
	}
	if t.Active() {
		g.params = approval.TeamChangeParams{Team: name, Change: ch}
		if wait, err := s.need(c, tx, g, approval.TeamChange, approval.ServerScope, c.target, t); err != nil || wait {
			return api.Team{}, err
		}
	}
	if err := s.applyTeamChange(c, tx, t, ch, request); err != nil {
		return api.Team{}, err
	}
	return teamView(t), nil
}

// handleTeamAccept is an invited approver joining a team with the public
// key of a key pair it made itself.
func (s *Server) handleTeamAccept(c *call) error {
	name := c.r.PathValue("team")
	c.target = "team/" + clip(name)
	if err := c.require(rbac.ApprovalVote, rbac.AllVaults); err != nil {
		return err
	}
	var req api.TeamAccept
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	pub, err := approval.ParsePublicKey(req.PublicKey)
	if err != nil {
		return badRequest("%v (`bunker approver keygen` prints it)", err)
	}
	var view api.Team
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		t, err := s.loadTeam(c, tx, name)
		if err != nil {
			return err
		}
		was := t.Active()
		if err := t.Accept(c.id.name(), pub, s.cfg.Now().UTC()); err != nil {
			return conflict("%v", err)
		}
		if err := tx.UpdateTeam(c.ctx, t); err != nil {
			return err
		}
		if err := c.auditTeam(tx, approval.ActionTeamAccept, approval.TeamEvent{Team: t.Name, Member: c.id.name(), PublicKey: pub, KeyID: approval.KeyID(pub)}); err != nil {
			return err
		}
		if !was && t.Active() {
			if err := s.emit(c.ctx, tx, &c.box, "team.active", "", map[string]any{"team": t.Name, "notify": activeMembers(t)}); err != nil {
				return err
			}
		}
		view = teamView(t)
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

func activeMembers(t *approval.Team) []string {
	var out []string
	for _, m := range t.Members {
		if m.State == approval.Active {
			out = append(out, m.Principal)
		}
	}
	return out
}

// scopeOperations are the operations a scope's approval settings guard:
// a vault's, or the server's.
func scopeOperations(scope string) []approval.Operation {
	if scope == approval.ServerScope {
		return []approval.Operation{approval.SecurityAdminGrant, approval.VaultTeam, approval.ApprovalOff}
	}
	return approval.VaultOperations()
}

func settingsView(set *store.ApprovalSettings) api.ApprovalSettings {
	v := api.ApprovalSettings{ApprovalSettings: *set, Guarded: []approval.Operation{}}
	if v.Unguarded == nil {
		v.Unguarded = []approval.Operation{}
	}
	for _, op := range scopeOperations(set.Scope) {
		if set.Guards(op) {
			v.Guarded = append(v.Guarded, op)
		}
	}
	return v
}

// checkGuardTeam refuses a team that cannot approve anything yet.
func (s *Server) checkGuardTeam(c *call, tx store.Tx, name string) error {
	t, err := s.loadTeam(c, tx, name)
	if err != nil {
		return err
	}
	if !t.Active() {
		return conflict("team %s is not active yet: %d of its members have accepted, it needs %d (`bunker team show %s`)", name, t.ActiveCount(), max(t.Threshold, approval.MinThreshold), name)
	}
	return nil
}

// handleApprovalSettingsShow shows a scope's approval settings: a vault's
// to whoever may read the vault, the server's to any principal.
func (s *Server) handleApprovalSettingsShow(c *call) error {
	scope, target := approval.ServerScope, "server"
	if v := c.r.PathValue("vault"); v != "" {
		var err error
		if scope, err = c.vaultParam(rbac.VaultRead); err != nil {
			return err
		}
		target = c.target
	}
	c.target = target
	var view api.ApprovalSettings
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		set, err := tx.ApprovalSettings(c.ctx, scope)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no approval team guards %s: set one with `bunker approvals guard`", c.target)
		}
		if err == nil {
			view = settingsView(set)
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

// handleApprovalSettingsSet sets a vault's approval settings (as a
// vault-admin) or the server's (as a security-admin).
func (s *Server) handleApprovalSettingsSet(c *call) error {
	scope := approval.ServerScope
	c.target = "server"
	if v := c.r.PathValue("vault"); v != "" {
		scope, c.target = v, "vault/"+clip(v)
		if err := c.require(rbac.VaultPolicy, v); err != nil {
			return err
		}
	} else if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var req api.ApprovalSettingsRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	g := &gate{}
	var view any
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		view, err = s.setApproval(c, tx, scope, req, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	return c.ok(http.StatusOK, view)
}

// setApproval changes a scope's approval settings in tx. Setting a team
// where none guards is free; changing the team, removing it or guarding
// fewer operations needs the current team's approval.
func (s *Server) setApproval(c *call, tx store.Tx, scope string, req api.ApprovalSettingsRequest, g *gate) (any, error) {
	perm, on := rbac.PrincipalAdmin, rbac.AllVaults
	airGapped := false
	if scope != approval.ServerScope {
		perm, on = rbac.VaultPolicy, scope
		c.target = "vault/" + scope
		v, err := s.loadVault(c, tx, scope)
		if err != nil {
			return nil, err
		}
		airGapped = v.AirGapped
	}
	if err := c.require(perm, on); err != nil {
		return nil, err
	}
	var unguarded []approval.Operation
	for _, name := range req.Unguarded {
		op, err := approval.ParseOperation(name)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		if !slices.Contains(scopeOperations(scope), op) {
			return nil, badRequest("%s is not among the operations approval settings here guard (%v)", op, scopeOperations(scope))
		}
		unguarded = append(unguarded, op)
	}
	slices.Sort(unguarded)
	unguarded = slices.Compact(unguarded)
	if req.Team != "" {
		if err := s.checkGuardTeam(c, tx, req.Team); err != nil {
			return nil, err
		}
	} else if airGapped {
		return nil, conflict("vault %s is air-gapped: a team always approves opening it", scope)
	}
	cur, err := tx.ApprovalSettings(c.ctx, scope)
	if errors.Is(err, store.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var op approval.Operation
	switch {
	case cur == nil:
	case req.Team == "":
		op = approval.ApprovalOff
	case slices.ContainsFunc(unguarded, func(o approval.Operation) bool { return !slices.Contains(cur.Unguarded, o) }):
		op = approval.ApprovalOff
	case req.Team != cur.Team:
		op = approval.VaultTeam
	}
	if op != "" {
		team, err := s.guardian(c, tx, scope, op)
		if err != nil {
			return nil, err
		}
		pinned := api.ApprovalSettingsRequest{Team: req.Team}
		for _, o := range unguarded {
			pinned.Unguarded = append(pinned.Unguarded, string(o))
		}
		g.params = pinned
		if wait, err := s.need(c, tx, g, op, scope, c.target, team); err != nil || wait {
			return nil, err
		}
	}
	detail := map[string]any{"team": req.Team, "unguarded": unguarded}
	if cur != nil {
		detail["from"] = map[string]any{"team": cur.Team, "unguarded": cur.Unguarded}
	}
	if err := c.audit(tx, audit.OutcomeOK, detail); err != nil {
		return nil, err
	}
	if req.Team == "" {
		if cur != nil {
			if err := tx.DeleteApprovalSettings(c.ctx, scope); err != nil {
				return nil, err
			}
		}
		return map[string]string{"status": "no team guards " + c.target}, nil
	}
	set := &store.ApprovalSettings{Scope: scope, Team: req.Team, Unguarded: unguarded, SetAt: s.cfg.Now().UTC(), SetBy: c.id.name()}
	if err := tx.SetApprovalSettings(c.ctx, set); err != nil {
		return nil, err
	}
	return settingsView(set), nil
}

// checkNoDataReaders refuses to make an air-gapped vault that someone
// could already read through a binding on its name.
func (s *Server) checkNoDataReaders(c *call, tx store.Tx, vault string) error {
	bs, err := tx.Bindings(c.ctx, "")
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Vault == vault && rbac.Allowed([]rbac.Binding{b.Binding}, rbac.DataRead, vault) {
			return conflict("%s holds %s on vault %s: an air-gapped vault has no principal with read or restore access; remove binding %d first", b.Principal, b.Role, vault, b.ID)
		}
	}
	return nil
}
