package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// Lifetimes of grants.
const (
	defaultAccessGrant = 8 * time.Hour
	maxAccessGrant     = 30 * 24 * time.Hour
	// infectedRestoreGrant is how long the credential for one restore of
	// an infected point waits to be used.
	infectedRestoreGrant = time.Hour
)

// accessParams are what a request for restore access pins.
type accessParams struct {
	Duration string `json:"duration"`
	Reason   string `json:"reason,omitempty"`
}

// handleAccessRequest is a recovery principal asking for read-only
// restore access to an air-gapped vault for a while: always a request the
// vault's team approves.
func (s *Server) handleAccessRequest(c *call) error {
	vault, err := c.vaultParam(rbac.AccessRequest)
	if err != nil {
		return err
	}
	var req api.AccessRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if req.Duration == "" {
		req.Duration = "8h"
	}
	d, err := parseSpan("duration", req.Duration)
	if err != nil {
		return err
	}
	if d < time.Hour || d > maxAccessGrant {
		return badRequest("duration: give 1h to 30d")
	}
	if len(req.Reason) > 1000 {
		return badRequest("reason: at most 1000 characters")
	}
	g := &gate{params: accessParams{Duration: req.Duration, Reason: audit.Clean(req.Reason)}}
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, vault)
		if err != nil {
			return err
		}
		if !v.AirGapped {
			return conflict("vault %s is not air-gapped: its restore-operators restore from it", vault)
		}
		team, err := s.guardian(c, tx, vault, approval.AirGapOpen)
		if err != nil {
			return err
		}
		if team == nil {
			return conflict("air-gapped vault %s has no approval team", vault)
		}
		_, err = s.need(c, tx, g, approval.AirGapOpen, vault, c.target, team)
		return err
	})
	if err != nil {
		return err
	}
	return c.pending(g)
}

// issueGrant makes the credential an executed request grants its
// requester: restore access to vault for ttl, or (point set) one restore
// of that point.
func (s *Server) issueGrant(c *call, tx store.Tx, req approval.Request, vault, point string, ttl time.Duration) (api.NewGrant, error) {
	p, err := s.loadPrincipal(c, tx, c.id.name())
	if err != nil {
		return api.NewGrant{}, err
	}
	nt, err := s.issueToken(c.ctx, tx, p, store.Token{Kind: store.GrantToken, Label: "grant of request " + req.ID[:8], Vaults: []string{vault}}, ttl)
	if err != nil {
		return api.NewGrant{}, err
	}
	g := &store.Grant{ID: nt.ID, Request: req.ID, Vault: vault, Point: point, Principal: p.Name, CreatedAt: s.cfg.Now().UTC(), ExpiresAt: nt.ExpiresAt}
	if err := tx.CreateGrant(c.ctx, g); err != nil {
		if errors.Is(err, store.ErrExists) {
			return api.NewGrant{}, conflict("request %s already issued its grant", req.ID[:8])
		}
		return api.NewGrant{}, err
	}
	if err := c.auditAs(tx, "grant.issue", "grant/"+g.ID, map[string]any{"vault": vault, "point": point, "principal": p.Name,
		"expires_at": g.ExpiresAt, "request": req.ID}); err != nil {
		return api.NewGrant{}, err
	}
	if err := s.emit(c.ctx, tx, &c.box, "grant.issued", vault, map[string]any{"grant": g.ID, "request": req.ID, "principal": p.Name,
		"point": point, "expires_at": g.ExpiresAt, "team": req.Team, "notify": []string{p.Name}}); err != nil {
		return api.NewGrant{}, err
	}
	return api.NewGrant{Token: nt.Token, ID: g.ID, Vault: vault, Point: point, Principal: p.Name, ExpiresAt: g.ExpiresAt}, nil
}

// handleGrantList lists grants: the caller's own, or every grant for a
// security-admin or an auditor.
func (s *Server) handleGrantList(c *call) error {
	if err := s.expireGrants(c.ctx); err != nil {
		return err
	}
	who := c.id.name()
	if c.id.can(rbac.PrincipalAdmin, rbac.AllVaults) || c.id.can(rbac.AuditRead, rbac.AllVaults) {
		who = c.r.URL.Query().Get("principal")
	}
	out := []store.Grant{}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		gs, err := tx.Grants(c.ctx, who)
		out = append(out, gs...)
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"grants": out})
}

// handleGrantRevoke ends a grant before it expires: by its holder, a
// security-admin, or a member of the vault's team.
func (s *Server) handleGrantRevoke(c *call) error {
	id := c.r.PathValue("id")
	c.target = "grant/" + clip(id)
	var g *store.Grant
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		g, err = tx.Grant(c.ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no grant %s (see `bunker access list`)", clip(id))
		}
		if err != nil {
			return err
		}
		if g.Principal != c.id.name() && !c.id.can(rbac.PrincipalAdmin, rbac.AllVaults) {
			team, err := s.guardian(c, tx, g.Vault, approval.AirGapOpen)
			if err != nil {
				return err
			}
			if team == nil || team.ActiveMember(c.id.name()) == nil {
				return forbidden("%s may not revoke grant %s: its holder, a security-admin or a member of vault %s's team may", c.id.name(), id, g.Vault)
			}
		}
		if !g.RevokedAt.IsZero() {
			return conflict("grant %s is already revoked", id)
		}
		return s.revokeGrant(c.ctx, tx, g, c.id.name(), func(detail map[string]any) error {
			if err := c.audit(tx, audit.OutcomeOK, detail); err != nil {
				return err
			}
			return s.emit(c.ctx, tx, &c.box, "grant.revoked", g.Vault, map[string]any{"grant": g.ID, "principal": g.Principal, "by": c.id.name(), "notify": []string{g.Principal}})
		})
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, g)
}

// revokeGrant revokes a grant and its token in tx, then records it with
// record.
func (s *Server) revokeGrant(ctx context.Context, tx store.Tx, g *store.Grant, by string, record func(detail map[string]any) error) error {
	now := s.cfg.Now().UTC()
	g.RevokedAt, g.RevokedBy = now, by
	if err := tx.UpdateGrant(ctx, g); err != nil {
		return err
	}
	t, err := tx.Token(ctx, g.ID)
	if err != nil {
		return err
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = now
		if err := tx.UpdateToken(ctx, t); err != nil {
			return err
		}
	}
	return record(map[string]any{"vault": g.Vault, "point": g.Point, "principal": g.Principal})
}

// grantIdentity completes the identity of a grant's token, or refuses it.
func grantIdentity(ctx context.Context, tx store.Tx, id *identity, now time.Time) error {
	g, err := tx.Grant(ctx, id.token.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusUnauthorized, "unauthenticated", "unknown grant %s", id.token.ID)
	}
	if err != nil {
		return err
	}
	if !g.Valid(now) {
		return errorf(http.StatusUnauthorized, "unauthenticated", "grant %s has expired or was revoked", g.ID)
	}
	id.grant, id.bindings = g, nil
	return nil
}

// auditGrantUse records a request made with a grant, whatever its outcome.
func (c *call) auditGrantUse() {
	outcome := audit.OutcomeOK
	if c.status >= 400 {
		outcome = audit.OutcomeDenied
	}
	d, _ := json.Marshal(map[string]any{"vault": c.id.grant.Vault, "method": c.r.Method, "path": clip(c.r.URL.Path), "status": c.status, "on": c.target})
	e := audit.Entry{Time: c.s.cfg.Now().UTC(), Actor: c.actor(), Action: "grant.use", Target: "grant/" + c.id.grant.ID,
		Outcome: outcome, Remote: c.remote, Detail: d}
	err := c.s.st.Update(context.WithoutCancel(c.ctx), func(tx store.Tx) error { return c.s.appendAudit(c.ctx, tx, e) })
	if err != nil {
		c.s.log.Error("audit entry lost", "action", "grant.use", "err", err)
	}
}

// endGrant revokes a grant for one restore once that restore has ended.
func (s *Server) endGrant(c *call, id string) error {
	return s.st.Update(c.ctx, func(tx store.Tx) error {
		g, err := tx.Grant(c.ctx, id)
		if err != nil || !g.RevokedAt.IsZero() {
			return err
		}
		return s.revokeGrant(c.ctx, tx, g, c.id.name(), func(detail map[string]any) error {
			detail["why"] = "its one restore ended"
			return c.auditAs(tx, "grant.revoke", "grant/"+id, detail)
		})
	})
}

// expireGrants closes every grant past its expiry that is still open: it
// is marked revoked by "expiry" (its token refused already), audited, and
// the notifier is told (grant.expired), once.
func (s *Server) expireGrants(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	var box outbox
	err := s.st.Update(ctx, func(tx store.Tx) error {
		box = nil
		gs, err := tx.Grants(ctx, "")
		if err != nil {
			return err
		}
		for i := range gs {
			g := &gs[i]
			if !g.RevokedAt.IsZero() || g.ExpiresAt.After(now) {
				continue
			}
			err := s.revokeGrant(ctx, tx, g, "expiry", func(detail map[string]any) error {
				d, _ := json.Marshal(detail)
				if err := s.appendAudit(ctx, tx, audit.Entry{Time: now, Action: "grant.expire", Target: "grant/" + g.ID,
					Outcome: audit.OutcomeOK, Detail: d}); err != nil {
					return err
				}
				return s.emit(ctx, tx, &box, "grant.expired", g.Vault, map[string]any{"grant": g.ID, "principal": g.Principal,
					"expires_at": g.ExpiresAt, "notify": []string{g.Principal}})
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.deliver(ctx, box)
	}
	return err
}
