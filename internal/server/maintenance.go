package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bunkerhq/bunker/internal/api"
	"github.com/bunkerhq/bunker/internal/audit"
	"github.com/bunkerhq/bunker/internal/blob"
	"github.com/bunkerhq/bunker/internal/prune"
	"github.com/bunkerhq/bunker/internal/rbac"
	"github.com/bunkerhq/bunker/internal/retention"
	"github.com/bunkerhq/bunker/internal/storage"
	"github.com/bunkerhq/bunker/internal/store"
)

const serverActor = "bunker server"

// maintain runs one pass over a vault: expired points go to the recycle bin,
// bin entries past the bin's period are purged, and packs that no point,
// bin entry or backup in progress needs are collected. Each step is audited.
func (s *Server) maintain(ctx context.Context, name, by string) (*api.MaintenanceReport, error) {
	mu := s.vaults.maintenanceLock(name)
	mu.Lock()
	defer mu.Unlock()
	rep := &api.MaintenanceReport{Vault: name, Expired: []string{}, Purged: []string{}, Kept: []string{}, Plans: []api.PlanMaintenance{}}
	job := &store.Job{Kind: "maintenance", Vault: name, State: store.JobRunning, Started: s.cfg.Now().UTC(), By: by}
	if err := s.st.Update(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, job) }); err != nil {
		return nil, err
	}
	rep.Job = job.ID
	err := s.maintainSteps(ctx, name, by, rep)
	job.Finished = s.cfg.Now().UTC()
	job.State = store.JobSucceded
	job.Detail = map[string]any{"expired": len(rep.Expired), "purged": len(rep.Purged), "kept": len(rep.Kept)}
	if n := planCount(rep, func(r *api.PlanMaintenance) int { return len(r.Dropped) }); n > 0 {
		job.Detail["dropped"] = n
	}
	if n := planCount(rep, func(r *api.PlanMaintenance) int { return len(r.Cold) }); n > 0 {
		job.Detail["cold"] = n
	}
	if rep.GC != nil {
		job.Detail["packs_deleted"] = rep.GC.PacksDeleted
		job.Detail["packs_repacked"] = rep.GC.PacksRepacked
		job.Detail["bytes_freed"] = rep.GC.BytesFreed
	}
	outcome := audit.OutcomeOK
	if err != nil {
		job.State, job.Error, outcome = store.JobFailed, err.Error(), audit.OutcomeFailed
		s.metrics.maintenance.WithLabelValues("failed").Inc()
	} else {
		s.metrics.maintenance.WithLabelValues("ok").Inc()
	}
	uerr := s.st.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := tx.UpdateJob(ctx, job); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.serverEntry(by, "vault.maintain", "vault/"+name, outcome, job.Detail))
	})
	if err == nil {
		err = uerr
	}
	// Plan copies that failed are tried again after every pass.
	s.wakePlanCopies()
	return rep, err
}

// planCount adds up n over the plans of a report.
func planCount(rep *api.MaintenanceReport, n func(*api.PlanMaintenance) int) int {
	total := 0
	for i := range rep.Plans {
		total += n(&rep.Plans[i])
	}
	return total
}

func (s *Server) serverEntry(actor, action, target, outcome string, detail map[string]any) audit.Entry {
	e := audit.Entry{Time: s.cfg.Now().UTC(), Actor: actor, Action: action, Target: target, Outcome: outcome}
	if len(detail) > 0 {
		e.Detail = mustJSON(detail)
	}
	return e
}

func (s *Server) maintainSteps(ctx context.Context, name, by string, rep *api.MaintenanceReport) error {
	var v *store.Vault
	now := s.cfg.Now().UTC()
	// Expiry: due points go to the bin in one transaction.
	err := s.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if v, err = tx.Vault(ctx, name); err != nil {
			return err
		}
		ps, err := tx.Points(ctx, store.PointFilter{Vault: name, State: store.Active})
		if err != nil {
			return err
		}
		hs, err := tx.Holds(ctx, name, false)
		if err != nil {
			return err
		}
		for i := range ps {
			p := &ps[i]
			if !p.RetentionView().Expired(now) {
				continue
			}
			if retention.CheckDelete(v.Policy.Lock, p.RetentionView(), activeHolds(hs), now, false) != nil {
				rep.Kept = append(rep.Kept, p.ID)
				continue
			}
			binPoint(p, now, v.Policy.BinRetention, by, "expired")
			if err := tx.UpdatePoint(ctx, p); err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, s.serverEntry(by, "point.expire", "point/"+name+"/"+p.ID, audit.OutcomeOK,
				map[string]any{"expired": p.Expires, "purge_after": p.PurgeAfter})); err != nil {
				return err
			}
			rep.Expired = append(rep.Expired, p.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expire points: %w", err)
	}
	s.metrics.points.WithLabelValues("binned").Add(float64(len(rep.Expired)))
	// The plans' retention and expiry, on what the vault's own expiry
	// left.
	plans, err := s.applyPlans(ctx, v, by, now, rep)
	if err != nil {
		return fmt.Errorf("apply plans: %w", err)
	}
	ov, err := s.vaults.get(ctx, v)
	if err != nil {
		return err
	}
	// Storage retention and legal holds first: whatever follows deletes
	// only what they no longer protect.
	if rep.RetentionExtended, err = s.protectVault(ctx, v, ov); err != nil {
		return fmt.Errorf("extend storage retention: %w", err)
	}
	if rep.LegalHoldsPlaced, rep.LegalHoldsLifted, err = s.syncHolds(ctx, v.Name, ov); err != nil {
		return fmt.Errorf("storage legal holds: %w", err)
	}
	if err := s.coldPlans(ctx, v, ov, plans, now, rep); err != nil {
		return err
	}
	if err := s.purgeBin(ctx, v, ov, by, now, rep); err != nil {
		return fmt.Errorf("purge the recycle bin: %w", err)
	}
	return s.collect(ctx, v, ov, rep)
}

// purgeBin removes bin entries whose bin period is over. The point record
// is deleted from the storage first and from the catalog after, so a crash
// in between leaves a catalog entry that the next pass finishes, never a
// stored record that could come back.
func (s *Server) purgeBin(ctx context.Context, v *store.Vault, ov *openVault, by string, now time.Time, rep *api.MaintenanceReport) error {
	var due []store.Point
	err := s.st.View(ctx, func(tx store.Tx) error {
		ps, err := tx.Points(ctx, store.PointFilter{Vault: v.Name, State: store.Binned})
		if err != nil {
			return err
		}
		hs, err := tx.Holds(ctx, v.Name, false)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if now.Before(p.PurgeAfter) {
				continue
			}
			// The lock is checked again, with the bypass only where the
			// point was deleted early under governance: nothing purges a
			// compliance-retained point.
			bypass := v.Policy.Lock.Mode == retention.Governance
			if retention.CheckDelete(v.Policy.Lock, p.RetentionView(), activeHolds(hs), now, bypass) != nil {
				rep.Kept = append(rep.Kept, p.ID)
				continue
			}
			due = append(due, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range due {
		h := storage.Handle{Kind: storage.KindPoint, Name: p.ID}
		if err := s.deleteObject(ctx, ov, v.Policy, h); err != nil {
			if errors.Is(err, storage.ErrRetained) {
				// The storage's own retention (its slack) still holds the
				// record: the point stays in the bin until a later pass.
				rep.Kept = append(rep.Kept, p.ID)
				continue
			}
			return fmt.Errorf("delete point record %s: %w", p.ID[:8], err)
		}
		err := s.st.Update(ctx, func(tx store.Tx) error {
			if err := tx.DeletePoint(ctx, v.Name, p.ID); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, s.serverEntry(by, "point.purge", "point/"+v.Name+"/"+p.ID, audit.OutcomeOK,
				map[string]any{"binned_at": p.BinnedAt, "bin_reason": p.BinReason}))
		})
		if err != nil {
			return err
		}
		rep.Purged = append(rep.Purged, p.ID)
		s.metrics.points.WithLabelValues("purged").Inc()
	}
	return nil
}

// collect deletes packs that nothing needs, with the vault's blob traffic
// held off. Packs younger than the margin and blobs that open backup
// sessions rely on are kept.
func (s *Server) collect(ctx context.Context, v *store.Vault, ov *openVault, rep *api.MaintenanceReport) error {
	if ov.verifying.Load() > 0 {
		s.log.Info("garbage collection left to the next pass: a verification is reading the vault", "vault", v.Name)
		return nil
	}
	ov.gc.Lock()
	defer ov.gc.Unlock()
	if err := ov.repo.Flush(ctx); err != nil {
		return err
	}
	// Pack ages come from the filesystem's clock, so they are measured
	// against the wall clock, not the server's policy clock.
	now := s.cfg.Now()
	st, err := prune.Prune(ctx, ov.repo, prune.Options{
		MaxUnused: 0.2, Keep: s.sessions.claims(v.Name), MinAge: s.cfg.GCMargin, Now: time.Now(),
		// Only what the storage no longer retains goes; under governance
		// the bypass lets go what no point needs any more.
		Deletable: func(id blob.ID) bool {
			return ov.prot.deletable("packs/"+id.String(), now, v.Policy.Lock.Mode == retention.Governance)
		},
		Delete: func(ctx context.Context, h storage.Handle) error { return s.deleteObject(ctx, ov, v.Policy, h) },
	})
	rep.GC = st
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	return nil
}

func (s *Server) handleMaintain(c *call) error {
	name, err := c.vaultParam(rbac.VaultMaintain)
	if err != nil {
		return err
	}
	err = s.st.View(c.ctx, func(tx store.Tx) error {
		_, err := s.loadVault(c, tx, name)
		return err
	})
	if err != nil {
		return err
	}
	rep, err := s.maintain(c.ctx, name, c.id.name())
	if err != nil {
		return err
	}
	return c.ok(http.StatusOK, rep)
}

// maintenanceLoop runs maintenance over every vault periodically.
func (s *Server) maintenanceLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.MaintenanceEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var names []string
		err := s.st.View(ctx, func(tx store.Tx) error {
			vs, err := tx.Vaults(ctx)
			for _, v := range vs {
				names = append(names, v.Name)
			}
			return err
		})
		if err != nil {
			s.log.Error("maintenance: list vaults", "err", err)
			continue
		}
		for _, n := range names {
			rep, err := s.maintain(ctx, n, serverActor)
			if err != nil {
				s.log.Error("maintenance", "vault", n, "err", err)
				continue
			}
			packs := 0
			if rep.GC != nil { // nil when a verification held collection off
				packs = rep.GC.PacksDeleted
			}
			s.log.Info("maintenance", "vault", n, "expired", len(rep.Expired), "purged", len(rep.Purged), "packs_deleted", packs,
				"plans_dropped", planCount(rep, func(r *api.PlanMaintenance) int { return len(r.Dropped) }))
		}
	}
}
