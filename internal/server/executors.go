package server

import (
	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/store"
)

// executor returns what performs an approved request of operation op,
// and the audit action its own entries are recorded under. Each one reads
// the request's pinned parameters and runs the same code as the endpoint
// the request came from, with the approval in hand.
func (s *Server) executor(op approval.Operation) (string, executor) {
	switch op {
	case approval.DeleteEarly:
		return "point.delete", s.execPoint
	case approval.HoldRelease:
		return "hold.release", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p holdParams
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			h, err := s.releaseHold(c, tx, req.Scope, p.Hold, g)
			return h, func() {
				if err := s.holdStorage(c, req.Scope); err != nil {
					s.log.Error("legal holds on the storage", "vault", req.Scope, "err", err)
				}
			}, err
		}
	case approval.LockChange:
		return "vault.lock", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p lockParams
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			if p.Remove {
				c.action = "vault.unlock"
			}
			v, err := s.changeLock(c, tx, req.Scope, p, g)
			return v, nil, err
		}
	case approval.VaultDelete:
		return "vault.delete", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			if err := decodeParams(req, &struct{}{}); err != nil {
				return nil, nil, err
			}
			after, err := s.deleteVault(c, tx, req.Scope, g)
			return map[string]string{"status": "deleted", "vault": req.Scope}, after, err
		}
	case approval.RetentionLower:
		return "vault.update", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p api.VaultUpdate
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			return s.updateVault(c, tx, req.Scope, p, g)
		}
	case approval.VaultTeam, approval.ApprovalOff:
		return "vault.approval", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p api.ApprovalSettingsRequest
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			if req.Scope == approval.ServerScope {
				c.action = "server.approval"
			} else {
				c.action = "vault.approval"
			}
			v, err := s.setApproval(c, tx, req.Scope, p, g)
			return v, nil, err
		}
	case approval.SecurityAdminGrant:
		return "role.bind", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p api.BindingRequest
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			b, err := s.createBinding(c, tx, p, g)
			return b, nil, err
		}
	case approval.TeamChange:
		return "team.change", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p approval.TeamChangeParams
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			t, err := s.changeTeam(c, tx, p.Team, p.Change, g)
			return t, nil, err
		}
	case approval.InfectedRestore:
		return "point.restore", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p pointParams
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			if err := c.require(rbac.DataRead, req.Scope); err != nil {
				return nil, nil, err
			}
			pt, err := findPoint(c, tx, req.Scope, p.Point, store.Active)
			if err != nil {
				return nil, nil, err
			}
			if _, err := s.need(c, tx, g, approval.InfectedRestore, req.Scope, "point/"+req.Scope+"/"+pt.ID, nil); err != nil {
				return nil, nil, err
			}
			ng, err := s.issueGrant(c, tx, req, req.Scope, pt.ID, infectedRestoreGrant)
			return ng, nil, err
		}
	case approval.AirGapOpen:
		return "access.grant", func(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
			var p accessParams
			if err := decodeParams(req, &p); err != nil {
				return nil, nil, err
			}
			if err := c.require(rbac.AccessRequest, req.Scope); err != nil {
				return nil, nil, err
			}
			v, err := s.loadVault(c, tx, req.Scope)
			if err != nil {
				return nil, nil, err
			}
			if !v.AirGapped {
				return nil, nil, conflict("vault %s is no longer air-gapped", req.Scope)
			}
			d, err := parseSpan("duration", p.Duration)
			if err != nil || d <= 0 || d > maxAccessGrant {
				return nil, nil, conflict("request %s pins duration %q, which is not 1h to 30d", req.ID[:8], p.Duration)
			}
			if _, err := s.need(c, tx, g, approval.AirGapOpen, req.Scope, "vault/"+req.Scope, nil); err != nil {
				return nil, nil, err
			}
			ng, err := s.issueGrant(c, tx, req, req.Scope, "", d)
			return ng, nil, err
		}
	}
	return "", nil
}

// execPoint executes a deletion or a shortened retention of a point.
func (s *Server) execPoint(c *call, tx store.Tx, req approval.Request, g *gate) (any, func(), error) {
	var p pointParams
	if err := decodeParams(req, &p); err != nil {
		return nil, nil, err
	}
	if len(p.Point) != 64 {
		return nil, nil, conflict("request %s pins point %q, not a point id", req.ID[:8], p.Point)
	}
	if p.Expires != nil {
		c.action = "point.retain"
		v, err := s.retainPoint(c, tx, req.Scope, p.Point, *p.Expires, g)
		return v, nil, err
	}
	v, err := s.deletePoint(c, tx, req.Scope, p.Point, g)
	return v, nil, err
}
