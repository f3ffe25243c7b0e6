package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
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
	view.Holds = len(hs)
	return view, err
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
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		if _, err := tx.Vault(c.ctx, req.Name); err == nil {
			return conflict("vault %s already exists", req.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
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
		CreatedAt: s.cfg.Now().UTC(), CreatedBy: c.id.name()}
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
// bin's period, within the lock's bounds.
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
	err = s.updatePolicy(c, name, func(v *store.Vault, detail map[string]any) error {
		if req.Retention != nil {
			d, err := parseSpan("retention", *req.Retention)
			if err != nil {
				return err
			}
			detail["retention"] = map[string]string{"from": retention.Format(v.Policy.Retention), "to": retention.Format(d)}
			v.Policy.Retention = d
		}
		if req.BinRetention != nil {
			d, err := parseSpan("bin_retention", *req.BinRetention)
			if err != nil {
				return err
			}
			detail["bin_retention"] = map[string]string{"from": retention.Format(v.Policy.BinRetention), "to": retention.Format(d)}
			v.Policy.BinRetention = d
		}
		if req.Scan != nil {
			detail["scan"] = map[string]bool{"from": v.Scan, "to": *req.Scan}
			v.Scan = *req.Scan
		}
		return nil
	})
	if err == nil && req.Scan != nil && *req.Scan {
		// Points made before scanning was turned on get their verdicts too.
		s.scanPending(context.WithoutCancel(c.ctx), name)
	}
	return err
}

// updatePolicy applies change to a vault's policy, validates the result,
// stores it and audits it, all in one transaction, and answers with the vault.
func (s *Server) updatePolicy(c *call, name string, change func(v *store.Vault, detail map[string]any) error) error {
	var view api.Vault
	err := s.st.Update(c.ctx, func(tx store.Tx) error {
		v, err := s.loadVault(c, tx, name)
		if err != nil {
			return err
		}
		detail := map[string]any{}
		if err := change(v, detail); err != nil {
			return err
		}
		if err := v.Policy.Validate(); err != nil {
			if errors.Is(err, retention.ErrBounds) {
				return conflict("%v", err)
			}
			return badRequest("%v", err)
		}
		if err := tx.UpdateVault(c.ctx, v); err != nil {
			return err
		}
		if err := c.audit(tx, audit.OutcomeOK, detail); err != nil {
			return err
		}
		view, err = s.vaultView(c, tx, v)
		return err
	})
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, view)
}

func lockDetail(l retention.Lock) map[string]any {
	return map[string]any{"mode": l.Mode.String(), "min_retention": retention.Format(l.MinRetention),
		"max_retention": retention.Format(l.MaxRetention), "changeable_for": retention.Format(l.ChangeableFor)}
}

// handleLockSet sets or replaces a vault's lock; refused from the lock date
// of the current lock on.
func (s *Server) handleLockSet(c *call) error {
	name, err := c.vaultParam(rbac.VaultPolicy)
	if err != nil {
		return err
	}
	var req api.LockRequest
	if err := decodeJSON(c.w, c.r, &req); err != nil {
		return err
	}
	now := s.cfg.Now()
	lock, ret, err := parseLock(req, now)
	if err != nil {
		return err
	}
	if ov, err := s.vaults.byName(c, name); err == nil && lock.Mode == retention.Compliance && ov.prot.retainer == nil && isS3(ov.be) {
		return conflict("a compliance lock needs storage that enforces retention itself, and %s does not: %s", ov.be.Location(), ov.prot.why)
	}
	return s.updatePolicy(c, name, func(v *store.Vault, detail map[string]any) error {
		if err := v.Policy.Lock.CheckChange(now); err != nil {
			return conflict("%v", err)
		}
		detail["from"], detail["to"] = lockDetail(v.Policy.Lock), lockDetail(lock)
		v.Policy.Lock = lock
		if ret != nil {
			v.Policy.Retention = *ret
			detail["retention"] = retention.Format(*ret)
		}
		return nil
	})
}

// handleLockRemove removes a vault's lock before its lock date.
func (s *Server) handleLockRemove(c *call) error {
	name, err := c.vaultParam(rbac.VaultPolicy)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	return s.updatePolicy(c, name, func(v *store.Vault, detail map[string]any) error {
		if v.Policy.Lock.Mode == retention.None {
			return conflict("vault %s has no lock", name)
		}
		if err := v.Policy.Lock.CheckChange(now); err != nil {
			return conflict("%v", err)
		}
		detail["from"] = lockDetail(v.Policy.Lock)
		v.Policy.Lock = retention.Lock{}
		return nil
	})
}

// handleVaultDelete deletes a vault that holds no points.
func (s *Server) handleVaultDelete(c *call) error {
	name, err := c.vaultParam(rbac.VaultDelete)
	if err != nil {
		return err
	}
	var v *store.Vault
	err = s.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if v, err = s.loadVault(c, tx, name); err != nil {
			return err
		}
		ps, err := tx.Points(c.ctx, store.PointFilter{Vault: name})
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			locked := 0
			for _, p := range ps {
				if retention.CheckDelete(v.Policy.Lock, p.RetentionView(), nil, s.cfg.Now(), false) != nil {
					locked++
				}
			}
			return conflict("vault %s holds %d points (%d of them retained by its lock); a vault can only be deleted once it is empty", name, len(ps), locked)
		}
		if err := tx.DeleteVault(c.ctx, name); err != nil {
			return err
		}
		return c.audit(tx, audit.OutcomeOK, map[string]any{"storage_id": v.StorageID})
	})
	if err != nil {
		return err
	}
	if err := s.vaults.remove(c.ctx, v); err != nil {
		s.log.Error("remove vault storage", "vault", name, "err", err)
	}
	return c.ok(http.StatusOK, map[string]string{"status": "deleted", "vault": name})
}
