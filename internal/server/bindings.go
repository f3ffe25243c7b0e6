package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

func (s *Server) handleBindingCreate(c *call) error {
	var req api.BindingRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	c.target = "principal/" + clip(req.Principal)
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	if req.Vault == "" {
		req.Vault = rbac.AllVaults
	}
	if req.Vault != rbac.AllVaults {
		if err := checkVaultName(req.Vault); err != nil {
			return err
		}
	}
	g := &gate{}
	var out store.Binding
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		out, err = s.createBinding(c, tx, req, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	return c.ok(http.StatusCreated, out)
}

// createBinding makes a binding in tx, constraints permitting. Binding
// security-admin needs the approval of the server's team where it has
// one; nobody is bound to read an air-gapped vault's data.
func (s *Server) createBinding(c *call, tx store.Tx, req api.BindingRequest, g *gate) (store.Binding, error) {
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return store.Binding{}, err
	}
	c.target = "principal/" + req.Principal
	b := rbac.Binding{Principal: req.Principal, Role: rbac.Role(req.Role), Vault: req.Vault, BypassGovernance: req.BypassGovernance}
	p, err := s.loadPrincipal(c, tx, req.Principal)
	if err != nil {
		return store.Binding{}, err
	}
	existing, err := tx.Bindings(c.ctx, p.Name)
	if err != nil {
		return store.Binding{}, err
	}
	var have []rbac.Binding
	for _, e := range existing {
		have = append(have, e.Binding)
	}
	if err := rbac.CheckBinding(s.constraints, c.id.name(), b, have); err != nil {
		if errors.Is(err, rbac.ErrConstraint) {
			return store.Binding{}, forbidden("%v", err)
		}
		return store.Binding{}, badRequest("%v", err)
	}
	if b.Vault != rbac.AllVaults && rbac.Allowed([]rbac.Binding{b}, rbac.DataRead, b.Vault) {
		if v, err := tx.Vault(c.ctx, b.Vault); err == nil && v.AirGapped {
			return store.Binding{}, forbidden("vault %s is air-gapped: nobody holds read or restore access to it; a recovery principal asks for a time-boxed grant (`bunker access request --vault %s`)", b.Vault, b.Vault)
		}
	}
	if b.Role == rbac.SecurityAdmin {
		team, err := s.guardian(c, tx, approval.ServerScope, approval.SecurityAdminGrant)
		if err != nil {
			return store.Binding{}, err
		}
		g.params = req
		if wait, err := s.need(c, tx, g, approval.SecurityAdminGrant, approval.ServerScope, c.target, team); err != nil || wait {
			return store.Binding{}, err
		}
	}
	out := store.Binding{Binding: b, PrincipalID: p.ID, CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
	if err := tx.CreateBinding(c.ctx, &out); err != nil {
		return store.Binding{}, err
	}
	return out, c.audit(tx, audit.OutcomeOK, map[string]any{"role": b.Role, "vault": b.Vault, "bypass_governance": b.BypassGovernance, "binding": out.ID})
}

func (s *Server) handleBindingList(c *call) error {
	if !c.id.can(rbac.PrincipalAdmin, rbac.AllVaults) && !c.id.can(rbac.AuditRead, rbac.AllVaults) {
		return c.require(rbac.PrincipalAdmin, rbac.AllVaults)
	}
	var out []store.Binding
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.Bindings(c.ctx, c.r.URL.Query().Get("principal"))
		return err
	})
	if err != nil {
		return err
	}
	if out == nil {
		out = []store.Binding{}
	}
	return c.ok(http.StatusOK, map[string]any{"bindings": out})
}

func (s *Server) handleBindingDelete(c *call) error {
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil {
		return badRequest("binding id %q is not a number", clip(c.r.PathValue("id")))
	}
	c.target = fmt.Sprintf("binding/%d", id)
	if err := c.require(rbac.PrincipalAdmin, rbac.AllVaults); err != nil {
		return err
	}
	var gone store.Binding
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		all, err := tx.Bindings(c.ctx, "")
		if err != nil {
			return err
		}
		found := false
		for _, b := range all {
			if b.ID == id {
				gone, found = b, true
			}
		}
		if !found {
			return notFound("no role binding %d (see `bunker role list`)", id)
		}
		c.target = "principal/" + gone.Principal
		if err := rbac.CheckUnbind(c.id.name(), gone.Binding); err != nil {
			return forbidden("%v", err)
		}
		if err := tx.DeleteBinding(c.ctx, id); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"role": gone.Role, "vault": gone.Vault, "binding": id})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, gone)
}

func (s *Server) handleRoles(c *call) error {
	var out []api.Role
	for _, r := range rbac.Roles() {
		ps := rbac.Grants(r)
		if ps == nil {
			ps = []rbac.Permission{}
		}
		out = append(out, api.Role{Role: r, Global: r.Global(), Permissions: ps})
	}
	return c.ok(http.StatusOK, map[string]any{"roles": out})
}

func (s *Server) handleConstraints(c *call) error {
	return c.ok(http.StatusOK, map[string]any{"constraints": s.constraints})
}
