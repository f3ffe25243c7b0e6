package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/approval"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/event"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/store"
)

func (s *Server) vaultView(c *call, tx store.Tx, v *store.Vault) (api.Vault, error) {
	view := api.Vault{Vault: v, LockDate: v.Policy.Lock.LockDate(), Immutable: v.Policy.Lock.Immutable(s.cfg.Now())}
	n, err := tx.CountPoints(c.ctx, v.Name)
	if err != nil {
		return view, err
	}
	view.Points, view.Binned = n[store.Active], n[store.Binned]
	hs, err := tx.Holds(c.ctx, v.Name, false)
	if err != nil {
		return view, err
	}
	view.Holds = len(hs)
	set, err := tx.ApprovalSettings(c.ctx, v.Name)
	switch {
	case err == nil:
		sv := settingsView(set)
		view.Approval = &sv
	case !errors.Is(err, store.ErrNotFound):
		return view, err
	}
	return view, nil
}

// loadVault reads a vault's settings, answering 404 for unknown names.
func (s *Server) loadVault(c *call, tx store.Tx, name string) (*store.Vault, error) {
	v, err := tx.Vault(c.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no vault %s (see `bunker vault list`)", clip(name))
	}
	return v, err
}

func (s *Server) handleVaultCreate(c *call) error {
	var req api.VaultRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if err := checkVaultName(req.Name); err != nil {
		return err
	}
	c.target = "vault/" + req.Name
	if err := c.require(rbac.VaultCreate, req.Name); err != nil {
		return err
	}
	pol := retention.Policy{BinRetention: retention.DefaultBinRetention}
	var err error
	if pol.Retention, err = parseSpan("retention", req.Retention); err != nil {
		return err
	}
	if req.BinRetention != "" {
		if pol.BinRetention, err = parseSpan("bin_retention", req.BinRetention); err != nil {
			return err
		}
	}
	if req.Lock != nil {
		lock, ret, err := parseLock(*req.Lock, s.cfg.Now())
		if err != nil {
			return err
		}
		pol.Lock = lock
		if ret != nil {
			pol.Retention = *ret
		}
	}
	if err := pol.Validate(); err != nil {
		if errors.Is(err, retention.ErrBounds) {
			return badRequest("%v (give a retention inside the lock's bounds)", err)
		}
		return badRequest("%v", err)
	}
	if req.AirGapped && (pol.Lock.Mode != retention.Compliance || req.Team == "") {
		return badRequest("an air-gapped vault is always compliance-locked and opened only with its team's approval: give it a compliance lock and a team")
	}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		if _, err := tx.Vault(c.ctx, req.Name); err == nil {
			return conflict("vault %s already exists", req.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if req.Team != "" {
			if err := s.checkGuardTeam(c, tx, req.Team); err != nil {
				return err
			}
		}
		if req.AirGapped {
			return s.checkNoDataReaders(c, tx, req.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	id, backend, loc, retains, why, err := s.vaults.create(c.ctx, req.Storage)
	if err != nil {
		return err
	}
	v := &store.Vault{Name: req.Name, StorageID: id, Backend: backend, Location: loc.String(), Policy: pol, Scan: req.Scan,
		AirGapped: req.AirGapped, CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
	if pol.Lock.Mode == retention.Compliance && backend == "s3" && !retains {
		_ = s.vaults.remove(c.ctx, v)
		return conflict("a compliance vault needs storage that enforces retention itself, and %s does not: %s; create the bucket with Object Lock enabled", loc, why)
	}
	var view api.Vault
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		if err := tx.CreateVault(c.ctx, v); err != nil {
			if errors.Is(err, store.ErrExists) {
				return conflict("vault %s already exists", req.Name)
			}
			return err
		}
		detail := map[string]any{"storage_id": id, "storage": loc.String(), "retention": retention.Format(pol.Retention),
			"bin_retention": retention.Format(pol.BinRetention), "lock": lockDetail(pol.Lock), "storage_retention": retains, "scan": req.Scan}
		if req.Team != "" {
			if err := tx.SetApprovalSettings(c.ctx, &store.ApprovalSettings{Scope: req.Name, Team: req.Team, SetAt: v.CreatedAt, SetBy: c.id.name()}); err != nil {
				return err
			}
			detail["team"], detail["air_gapped"] = req.Team, req.AirGapped
		}
		if err := c.audit(tx, audit.OutcomeOK, detail); err != nil {
			return err
		}
		view, err = s.vaultView(c, tx, v)
		return err
	})
	if err != nil {
		_ = s.vaults.remove(c.ctx, v)
		return err
	}
	// Open it now, so the view can say what the storage enforces.
	if _, err := s.vaults.get(c.ctx, v); err == nil {
		s.storageView(&view)
	}
	return c.ok(http.StatusCreated, view)
}

// storageView fills in what a vault's storage enforces.
func (s *Server) storageView(view *api.Vault) {
	if ov, ok := s.vaults.peek(view.Name); ok {
		view.StorageRetention = ov.prot.retainer != nil
		view.StorageRetentionReason = ov.prot.why
	}
}

// parseLock reads a lock request, and the retention it sets with it.
func parseLock(req api.LockRequest, now time.Time) (retention.Lock, *time.Duration, error) {
	mode, err := retention.ParseMode(req.Mode)
	if err != nil {
		return retention.Lock{}, nil, badRequest("%v", err)
	}
	if mode == retention.None {
		return retention.Lock{}, nil, badRequest("a lock's mode is governance or compliance; to remove a lock, unlock the vault")
	}
	var spans [3]time.Duration
	for i, f := range []struct{ field, v string }{{"min_retention", req.MinRetention}, {"max_retention", req.MaxRetention}, {"changeable_for", req.ChangeableFor}} {
		if spans[i], err = parseSpan(f.field, f.v); err != nil {
			return retention.Lock{}, nil, err
		}
	}
	lock, err := retention.NewLock(mode, spans[0], spans[1], spans[2], now)
	if err != nil {
		return retention.Lock{}, nil, badRequest("%v", err)
	}
	if req.Retention == nil {
		return lock, nil, nil
	}
	d, err := parseSpan("retention", *req.Retention)
	if err != nil {
		return retention.Lock{}, nil, err
	}
	return lock, &d, nil
}

func (s *Server) handleVaultList(c *call) error {
	out := []api.Vault{}
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		vs, err := tx.Vaults(c.ctx)
		if err != nil {
			return err
		}
		for i := range vs {
			if !c.id.can(rbac.VaultRead, vs[i].Name) {
				continue
			}
			view, err := s.vaultView(c, tx, &vs[i])
			if err != nil {
				return err
			}
			out = append(out, view)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, map[string]any{"vaults": out})
}

func (s *Server) handleVaultShow(c *call) error {
	name, err := c.vaultParam(rbac.VaultRead)
	if err != nil {
		return err
	}
	var view api.Vault
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, name)
		if err != nil {
			return err
		}
		view, err = s.vaultView(c, tx, v)
		return err
	})
	if err != nil {
		return err
	}
	if ov, ok := s.vaults.peek(name); ok {
		ov.prot.setPolicy(view.Policy)
		// A new or stronger lock covers what the vault holds already.
		if _, err := s.protectVault(c.ctx, view.Vault, ov); err != nil {
			s.log.Error("extend storage retention after a policy change", "vault", name, "err", err)
		}
	}
	s.storageView(&view)
	return c.ok(http.StatusOK, view)
}

// handleVaultUpdate changes the retention of new points and the recycle
// bin's period, within the lock's bounds; lowering either needs the
// approval of the vault's team where it has one.
func (s *Server) handleVaultUpdate(c *call) error {
	name, err := c.vaultParam(rbac.VaultPolicy)
	if err != nil {
		return err
	}
	var req api.VaultUpdate
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if req.Retention == nil && req.BinRetention == nil && req.Scan == nil {
		return badRequest("nothing to change: give retention, bin_retention or scan")
	}
	g := &gate{}
	return s.updatePolicy(c, g, func(tx store.Tx) (api.Vault, func(), error) { return s.updateVault(c, tx, name, req, g) })
}

// updateVault applies a vault update in tx (see handleVaultUpdate).
func (s *Server) updateVault(c *call, tx store.Tx, name string, req api.VaultUpdate, g *gate) (api.Vault, func(), error) {
	if err := c.require(rbac.VaultPolicy, name); err != nil {
		return api.Vault{}, nil, err
	}
	view, err := s.changePolicy(c, tx, name, func(v *store.Vault, detail map[string]any) (bool, error) {
		lower := false
		if req.Retention != nil {
			d, err := parseSpan("retention", *req.Retention)
			if err != nil {
				return false, err
			}
			detail["retention"] = map[string]string{"from": retention.Format(v.Policy.Retention), "to": retention.Format(d)}
			lower = lower || shorter(d, v.Policy.Retention)
			v.Policy.Retention = d
		}
		if req.BinRetention != nil {
			d, err := parseSpan("bin_retention", *req.BinRetention)
			if err != nil {
				return false, err
			}
			detail["bin_retention"] = map[string]string{"from": retention.Format(v.Policy.BinRetention), "to": retention.Format(d)}
			lower = lower || d < v.Policy.BinRetention
			v.Policy.BinRetention = d
		}
		if req.Scan != nil {
			detail["scan"] = map[string]bool{"from": v.Scan, "to": *req.Scan}
			v.Scan = *req.Scan
		}
		if !lower {
			return false, nil
		}
		if err := v.Policy.Validate(); err != nil {
			return false, nil // refused below, before anything waits for approval
		}
		team, err := s.guardian(c, tx, name, approval.RetentionLower)
		if err != nil {
			return false, err
		}
		g.params = req
		return s.need(c, tx, g, approval.RetentionLower, name, c.target, team)
	})
	if err != nil || g.pending != nil || req.Scan == nil || !*req.Scan {
		return view, nil, err
	}
	// Points made before scanning was turned on get their verdicts too.
	return view, func() { s.scanPending(context.WithoutCancel(c.ctx), name) }, nil
}

// shorter reports whether retention d keeps points for less time than
// was, where 0 keeps them until deleted by hand.
func shorter(d, was time.Duration) bool {
	return d != 0 && (was == 0 || d < was)
}

// updatePolicy runs a change of a vault in one transaction and answers
// with the vault, or with the request it became; after runs once the
// change committed.
func (s *Server) updatePolicy(c *call, g *gate, change func(tx store.Tx) (api.Vault, func(), error)) error {
	var view api.Vault
	var after func()
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		view, after, err = change(tx)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	if after != nil {
		after()
	}
	return c.ok(http.StatusOK, view)
}

// changePolicy applies change to a vault's policy in tx, validates the
// result, stores it and audits it, and returns the vault. A change that
// reports true became an approval request: nothing is stored.
func (s *Server) changePolicy(c *call, tx store.Tx, name string, change func(v *store.Vault, detail map[string]any) (bool, error)) (api.Vault, error) {
	c.target = "vault/" + name
	v, err := s.loadVault(c, tx, name)
	if err != nil {
		return api.Vault{}, err
	}
	detail := map[string]any{}
	if wait, err := change(v, detail); err != nil || wait {
		return api.Vault{}, err
	}
	if err := v.Policy.Validate(); err != nil {
		if errors.Is(err, retention.ErrBounds) {
			return api.Vault{}, conflict("%v", err)
		}
		return api.Vault{}, badRequest("%v", err)
	}
	if err := tx.UpdateVault(c.ctx, v); err != nil {
		return api.Vault{}, err
	}
	if err := c.audit(tx, audit.OutcomeOK, detail); err != nil {
		return api.Vault{}, err
	}
	return s.vaultView(c, tx, v)
}

// lockChanged is the vault.lock_changed event of vault's lock becoming
// lock (Mode none when removed) from one of mode previous, by actor.
func lockChanged(vault, actor string, previous retention.Mode, lock retention.Lock) event.Envelope {
	d := map[string]any{"mode": lock.Mode.String(), "previous_mode": previous.String(),
		"min_retention_seconds": lock.MinRetention.Seconds(), "max_retention_seconds": lock.MaxRetention.Seconds()}
	if until := lock.LockDate(); !until.IsZero() {
		d["changeable_until"] = until.UTC().Format(time.RFC3339)
	}
	return event.Envelope{Kind: event.VaultLockChanged, Vault: vault, Subject: vault, Actor: actor, Detail: d}
}

func lockDetail(l retention.Lock) map[string]any {
	return map[string]any{"mode": l.Mode.String(), "min_retention": retention.Format(l.MinRetention),
		"max_retention": retention.Format(l.MaxRetention), "changeable_for": retention.Format(l.ChangeableFor)}
}

// lockParams are what a guarded change of a lock pins: the new lock, or
// its removal.
type lockParams struct {
	Lock   *api.LockRequest `json:"lock,omitempty"`
	Remove bool             `json:"remove,omitempty"`
}

// handleLockSet sets or replaces a vault's lock; refused from the lock date
// of the current lock on. Replacing a lock needs the approval of the
// vault's team where it has one.
func (s *Server) handleLockSet(c *call) error {
	name, err := c.vaultParam(rbac.VaultPolicy)
	if err != nil {
		return err
	}
	var req api.LockRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	if _, _, err := parseLock(req, s.cfg.Now()); err != nil {
		return err
	}
	g := &gate{}
	return s.updatePolicy(c, g, func(tx store.Tx) (api.Vault, func(), error) {
		v, err := s.changeLock(c, tx, name, lockParams{Lock: &req}, g)
		return v, nil, err
	})
}

// handleLockRemove removes a vault's lock before its lock date, with the
// approval of the vault's team where it has one.
func (s *Server) handleLockRemove(c *call) error {
	name, err := c.vaultParam(rbac.VaultPolicy)
	if err != nil {
		return err
	}
	g := &gate{}
	return s.updatePolicy(c, g, func(tx store.Tx) (api.Vault, func(), error) {
		v, err := s.changeLock(c, tx, name, lockParams{Remove: true}, g)
		return v, nil, err
	})
}

// changeLock sets, replaces or removes a vault's lock in tx. An
// air-gapped vault keeps a compliance lock.
func (s *Server) changeLock(c *call, tx store.Tx, name string, p lockParams, g *gate) (api.Vault, error) {
	if err := c.require(rbac.VaultPolicy, name); err != nil {
		return api.Vault{}, err
	}
	now := s.cfg.Now()
	var lock retention.Lock
	var ret *time.Duration
	if !p.Remove {
		if p.Lock == nil {
			return api.Vault{}, badRequest("a lock change names a lock or its removal")
		}
		var err error
		if lock, ret, err = parseLock(*p.Lock, now); err != nil {
			return api.Vault{}, err
		}
		if ov, err := s.vaults.byName(c, name); err == nil && lock.Mode == retention.Compliance && ov.prot.retainer == nil && isS3(ov.be) {
			return api.Vault{}, conflict("a compliance lock needs storage that enforces retention itself, and %s does not: %s", ov.be.Location(), ov.prot.why)
		}
	}
	return s.changePolicy(c, tx, name, func(v *store.Vault, detail map[string]any) (bool, error) {
		if p.Remove && v.Policy.Lock.Mode == retention.None {
			return false, conflict("vault %s has no lock", name)
		}
		if v.AirGapped && (p.Remove || lock.Mode != retention.Compliance) {
			return false, conflict("vault %s is air-gapped: it is always compliance-locked", name)
		}
		if err := v.Policy.Lock.CheckChange(now); err != nil {
			return false, conflict("%v", err)
		}
		if v.Policy.Lock.Mode != retention.None {
			team, err := s.guardian(c, tx, name, approval.LockChange)
			if err != nil {
				return false, err
			}
			g.params = p
			if wait, err := s.need(c, tx, g, approval.LockChange, name, c.target, team); err != nil || wait {
				return wait, err
			}
		}
		detail["from"] = lockDetail(v.Policy.Lock)
		previous := v.Policy.Lock.Mode
		if p.Remove {
			v.Policy.Lock = retention.Lock{}
			return false, s.record(c.ctx, tx, nil, lockChanged(name, c.id.name(), previous, v.Policy.Lock))
		}
		detail["to"] = lockDetail(lock)
		v.Policy.Lock = lock
		if ret != nil {
			v.Policy.Retention = *ret
			detail["retention"] = retention.Format(*ret)
		}
		return false, s.record(c.ctx, tx, nil, lockChanged(name, c.id.name(), previous, lock))
	})
}

// handleVaultDelete deletes a vault that holds no points, with the
// approval of its team where it has one.
func (s *Server) handleVaultDelete(c *call) error {
	name, err := c.vaultParam(rbac.VaultDelete)
	if err != nil {
		return err
	}
	g := &gate{}
	var after func()
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		after, err = s.deleteVault(c, tx, name, g)
		return err
	})
	if err != nil {
		return err
	}
	if g.pending != nil {
		return c.pending(g)
	}
	after()
	return c.ok(http.StatusOK, map[string]string{"status": "deleted", "vault": name})
}

// deleteVault deletes an empty vault's record in tx; the returned function
// removes its storage once that committed.
func (s *Server) deleteVault(c *call, tx store.Tx, name string, g *gate) (func(), error) {
	if err := c.require(rbac.VaultDelete, name); err != nil {
		return nil, err
	}
	c.target = "vault/" + name
	v, err := s.loadVault(c, tx, name)
	if err != nil {
		return nil, err
	}
	ps, err := tx.Points(c.ctx, store.PointFilter{Vault: name})
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		locked := 0
		for _, p := range ps {
			if retention.CheckDelete(v.Policy.Lock, p.RetentionView(), nil, s.cfg.Now(), false) != nil {
				locked++
			}
		}
		return nil, conflict("vault %s holds %d points (%d of them retained by its lock); a vault can only be deleted once it is empty", name, len(ps), locked)
	}
	team, err := s.guardian(c, tx, name, approval.VaultDelete)
	if err != nil {
		return nil, err
	}
	g.params = struct{}{}
	if wait, err := s.need(c, tx, g, approval.VaultDelete, name, c.target, team); err != nil || wait {
		return nil, err
	}
	if err := tx.DeleteVault(c.ctx, name); err != nil {
		return nil, err
	}
	if err := c.audit(tx, audit.OutcomeOK, map[string]any{"storage_id": v.StorageID}); err != nil {
		return nil, err
	}
	return func() {
		if err := s.vaults.remove(context.WithoutCancel(c.ctx), v); err != nil {
			s.log.Error("remove vault storage", "vault", name, "err", err)
		}
	}, nil
}
